## man/: manual pages (chubby.conf.5 and chubby-certs.1 come with their modules' fragments).
dist_man_MANS += man/chubbyd.8 man/lockctl.1 man/chubby-cell.1
dist_man_MANS += man/chubby_sequencer_verify.3
dist_man_MANS += man/libchubby.3 man/chubby_open.3
dist_man_MANS += man/chubby-bench.1
dist_man_MANS += man/chubby_handle_open.3 man/chubby_acquire.3 man/chubby_elect.3
# The event-loop API (docs/CLIENT.md "Driving libchubby from your own event
# loop"): two pages, and a .so page for every other call they describe.
dist_man_MANS += man/chubby_open_async.3 man/chubby_interest.3 man/chubby_process.3
dist_man_MANS += man/chubby_handle_open_async.3 man/chubby_handle_close_async.3 \
	man/chubby_get_contents_async.3 man/chubby_get_stat_async.3 man/chubby_set_contents_async.3 \
	man/chubby_set_contents_if_async.3 man/chubby_delete_async.3 man/chubby_acquire_async.3 \
	man/chubby_try_acquire_async.3 man/chubby_release_async.3 man/chubby_get_sequencer_async.3 \
	man/chubby_check_sequencer_async.3
