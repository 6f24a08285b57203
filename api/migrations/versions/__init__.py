"""One file per schema revision, applied in order by :func:`api.store.upgrade`."""
