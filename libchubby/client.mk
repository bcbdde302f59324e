## libchubby/client.mk: the client library shell: connections, the background
## loop thread, the public API of <chubby/chubby.h>.
