## common/tls.mk: (filled in by its module)
