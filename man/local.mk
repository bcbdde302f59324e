## man/: manual pages (chubby.conf.5 and chubby-certs.1 come with their modules' fragments).
dist_man_MANS += man/chubbyd.8 man/lockctl.1 man/chubby-cell.1
dist_man_MANS += man/chubby_sequencer_verify.3
dist_man_MANS += man/libchubby.3 man/chubby_open.3
dist_man_MANS += man/chubby-bench.1
dist_man_MANS += man/chubby_handle_open.3 man/chubby_acquire.3 man/chubby_elect.3
dist_man_MANS += man/chubby_strerror.3
# One page per group of calls; every other public call of chubby.h is a .so
# link to its group's page, so `man NAME` finds each (tests/check-man.sh).
# (Debian's dh_installman turns .so links into symbolic links.)
dist_man_MANS += man/chubby_check_sequencer.3
dist_man_MANS += man/chubby_close.3
dist_man_MANS += man/chubby_delete.3
dist_man_MANS += man/chubby_free.3
dist_man_MANS += man/chubby_free_names.3
dist_man_MANS += man/chubby_get_contents.3
dist_man_MANS += man/chubby_get_sequencer.3
dist_man_MANS += man/chubby_get_stat.3
dist_man_MANS += man/chubby_handle_close.3
dist_man_MANS += man/chubby_handle_path.3
dist_man_MANS += man/chubby_last_error.3
dist_man_MANS += man/chubby_leader.3
dist_man_MANS += man/chubby_set_lock_record.3
dist_man_MANS += man/chubby_open_ext.3
dist_man_MANS += man/chubby_poison.3
dist_man_MANS += man/chubby_readdir.3
dist_man_MANS += man/chubby_release.3
dist_man_MANS += man/chubby_sequencer_compare.3
dist_man_MANS += man/chubby_sequencer_key_load.3
dist_man_MANS += man/chubby_sequencer_parse.3
dist_man_MANS += man/chubby_session_id.3
dist_man_MANS += man/chubby_session_state.3
dist_man_MANS += man/chubby_set_acl.3
dist_man_MANS += man/chubby_set_acl_flags.3
dist_man_MANS += man/chubby_set_contents.3
dist_man_MANS += man/chubby_set_contents_if.3
dist_man_MANS += man/chubby_set_sequencer.3
dist_man_MANS += man/chubby_status_from_name.3
dist_man_MANS += man/chubby_status_name.3
dist_man_MANS += man/chubby_try_acquire.3
dist_man_MANS += man/chubby_version.3
# The event-loop API (docs/CLIENT.md "Driving libchubby from your own event
# loop"): two pages, and a .so page for every other call they describe.
dist_man_MANS += man/chubby_open_async.3 man/chubby_interest.3 man/chubby_process.3
dist_man_MANS += man/chubby_handle_open_async.3 man/chubby_handle_close_async.3 \
	man/chubby_get_contents_async.3 man/chubby_get_stat_async.3 man/chubby_set_contents_async.3 \
	man/chubby_set_contents_if_async.3 man/chubby_delete_async.3 man/chubby_acquire_async.3 \
	man/chubby_try_acquire_async.3 man/chubby_release_async.3 man/chubby_get_sequencer_async.3 \
	man/chubby_check_sequencer_async.3 man/chubby_readdir_async.3 man/chubby_set_acl_async.3 \
	man/chubby_set_acl_flags_async.3 man/chubby_poison_async.3 man/chubby_set_sequencer_async.3 \
	man/chubby_elect_async.3 man/chubby_leader_async.3
