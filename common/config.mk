## common/config.mk: (filled in by its module)
