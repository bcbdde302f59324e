## common/seqtoken.mk: signed sequencers (fencing tokens): the codec shared by
## chubbyd (signs) and libchubby (verifies offline).
