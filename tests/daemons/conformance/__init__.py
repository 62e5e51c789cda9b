"""Differential conformance suite: etcd 3.4's v2 API is the reference for the store."""
