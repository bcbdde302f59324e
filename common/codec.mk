## common/codec.mk: (filled in by its module)
