## man/: manual pages (chubby.conf.5 and chubby-certs.1 come with their modules' fragments).
dist_man_MANS += man/chubbyd.8 man/lockctl.1 man/chubby-cell.1
dist_man_MANS += man/chubby_sequencer_verify.3
dist_man_MANS += man/libchubby.3 man/chubby_open.3
dist_man_MANS += man/chubby-bench.1
dist_man_MANS += man/chubby_handle_open.3 man/chubby_acquire.3 man/chubby_elect.3
