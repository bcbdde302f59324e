#!/bin/bash
# test_tls_rotate.sh: certificates rotated and revoked without downtime
# (issue 18 item 2, and its part of item 5).  A real five-replica cell whose
# config names a CRL (tls_crl):
#  - a client key and CSR made with openssl for principal carol, signed by
#    `chubby-certs sign --csr`: carol works; a CSR asking for a replica role
#    is refused unless the CA holder names the replica;
#  - a replica's certificate rotated (new files, SIGHUP) with a client
#    connected to it: none of its calls fails, new connections see the new
#    certificate; the same through `lockctl reload` (superuser only);
#  - carol revoked (chubby-certs revoke, lockctl reload): her live
#    connection is closed and she cannot reconnect, with an error that
#    names revocation; the admin's session keeps working;
#  - a replica's certificate revoked: the others refuse its peer links;
#    a new certificate for it brings it back;
#  - `chubby-certs seqkey` makes a key libchubby loads.
. "$(dirname "$0")/lib.sh"
t_time_limit 300

DRV="$BUILD/tests/integration/libchubby_driver"
. "$(dirname "$0")/drv.sh"
port=$(t_port)
cell="$T_DIR/cell"
conf="$cell/chubby.conf"
tls="$cell/tls"
t_cleanup_rot() {
	for p in "${DRV_PID[@]}"; do kill "$p" 2>/dev/null; done
	t_cleanup
}
trap t_cleanup_rot EXIT

# The CA, the replicas' certificates and an (empty) CRL exist before the
# cell starts, so that its config can name the CRL from the first start.
step "make the CA and the certificates" "$CERTS" cell --dir "$tls" --replicas 5 --cell local
check "chubby-certs crl writes an empty CRL" "$CERTS" crl --dir "$tls"
check "5-replica cell with tls_crl up" cell_up "$cell" --replicas 5 --base-port "$port" \
	--set "tls_crl=$tls/ca.crl" --set master_lease=2s --set master_lease_renew=700ms \
	--set election_timeout=500ms --set heartbeat_interval=100ms
[ "$T_FAILED" -eq 0 ] || { finish; exit 1; }
check "one master" wait_for 30 one_master "$conf"

export CHUBBY_CELL="$conf"
L() { "$LOCKCTL" -C "$conf" -t 5000 "$@"; }
pid_of() { cat "$cell/replica-$1.pid"; }
addr_of() { echo "127.0.0.$((10 + $1)):$port"; }
# The SHA-256 fingerprint of the certificate replica ID presents to a new
# connection, and of a certificate file, in the same spelling.
served_fp() {
	openssl s_client -connect "$(addr_of "$1")" -CAfile "$tls/ca.crt" \
		-cert "$tls/client-admin.crt" -key "$tls/client-admin.key" </dev/null 2>/dev/null |
		openssl x509 -noout -fingerprint -sha256 2>/dev/null | sed 's/.*=//'
}
file_fp() { openssl x509 -noout -fingerprint -sha256 -in "$1" | sed 's/.*=//'; }
serves() { [ "$(served_fp "$1")" = "$(file_fp "$2")" ]; }

# ---- carol's certificate from her own CSR ----
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T_DIR/carol.key" 2>/dev/null
chmod 600 "$T_DIR/carol.key"
openssl req -new -key "$T_DIR/carol.key" -subj "/CN=carol" -out "$T_DIR/carol.csr" 2>/dev/null
check "chubby-certs sign --csr issues carol's certificate" \
	"$CERTS" sign --dir "$tls" --csr "$T_DIR/carol.csr" --name carol --out "$T_DIR/carol.crt"
check "the certificate is carol's client certificate" \
	bash -c "'$CERTS' show '$T_DIR/carol.crt' | grep -q 'kind: *client' && '$CERTS' show '$T_DIR/carol.crt' | grep -q 'name: *carol'"
check "the certificate holds carol's own public key" \
	bash -c "[ \"\$(openssl x509 -noout -pubkey -in '$T_DIR/carol.crt')\" = \"\$(openssl pkey -pubout -in '$T_DIR/carol.key')\" ]"
openssl req -new -key "$T_DIR/carol.key" -subj "/O=local/OU=chubby-replica/CN=replica-3" \
	-out "$T_DIR/evil.csr" 2>/dev/null
check_fails "a CSR asking for a replica role is refused" "replica" \
	"$CERTS" sign --dir "$tls" --csr "$T_DIR/evil.csr" --name mallory --out "$T_DIR/evil.crt"
check "and nothing was written" test ! -e "$T_DIR/evil.crt"
C() { CHUBBY_CERT="$T_DIR/carol.crt" CHUBBY_KEY="$T_DIR/carol.key" "$LOCKCTL" -C "$conf" -t 5000 "$@"; }
check "carol writes with her signed certificate" C put /ls/local/carol-file hello
check "carol reads it back" bash -c "[ \"\$(CHUBBY_CERT='$T_DIR/carol.crt' CHUBBY_KEY='$T_DIR/carol.key' '$LOCKCTL' -C '$conf' -t 5000 cat /ls/local/carol-file)\" = hello ]"
check_fails "carol may not reload the cell (superuser only)" "superuser|E_PERMISSION" C reload

# ---- rotating the master's certificate with a client connected to it ----
m=$(master_id "$conf")
check "admin's libchubby session opens" drv_start admin -c 20000
check "admin writes before the rotation" drv_ok admin put /ls/local/rot v0
# New connections all through both rotations: a lockctl write per turn,
# each over a fresh handshake; none may fail.
bg_writes() {
	local i=0
	while [ ! -e "$T_DIR/bg.stop" ]; do
		i=$((i + 1))
		if "$LOCKCTL" -C "$conf" -t 5000 put /ls/local/bg "w$i" >/dev/null 2>"$T_DIR/bg.err"; then
			echo "ok $i"
		else
			echo "FAIL $i: $(cat "$T_DIR/bg.err")"
		fi
	done >"$T_DIR/bg.out"
}
bg_writes &
BG=$!
old_fp=$(file_fp "$tls/replica-$m.crt")
step "issue a new certificate for replica $m" "$CERTS" replica --dir "$tls" --id "$m"
check "the new certificate differs from the old one" test "$(file_fp "$tls/replica-$m.crt")" != "$old_fp"
check "replica $m still serves the old certificate before SIGHUP" test "$(served_fp "$m")" = "$old_fp"
kill -HUP "$(pid_of "$m")"
check "after SIGHUP replica $m serves the new certificate to new connections" \
	wait_for 10 serves "$m" "$tls/replica-$m.crt"
check "replica $m logged the reload" wait_for 10 grep -q "reloaded" "$cell/replica-$m.log"
for i in 1 2 3; do
	check "admin's call $i after the rotation works" drv_ok admin put /ls/local/rot "v$i"
done
check "admin's session never lost its connection" \
	lacks "event (JEOPARDY|EXPIRED|MASTER_FAILOVER)|err " cat "$T_DIR/admin.out"
check "lockctl (new connections) works after the rotation" L cat /ls/local/rot

# ---- the same through lockctl reload, for a follower ----
f=1; [ "$f" = "$m" ] && f=2
step "issue a new certificate for replica $f" "$CERTS" replica --dir "$tls" --id "$f"
check "lockctl reload reloads every replica" L reload
check "lockctl reload named all five replicas" bash -c "[ \$('$LOCKCTL' -C '$conf' -t 5000 reload | grep -c reloaded) -eq 5 ]"
check "replica $f serves its new certificate" wait_for 10 serves "$f" "$tls/replica-$f.crt"
check "admin's calls keep working" drv_ok admin put /ls/local/rot v4
touch "$T_DIR/bg.stop"
wait "$BG"
check "new connections all through both rotations: every write worked" \
	bash -c "grep -c '^ok' '$T_DIR/bg.out' && ! grep '^FAIL' '$T_DIR/bg.out'"
check "and there were some" test "$(grep -c '^ok' "$T_DIR/bg.out")" -ge 3

# ---- revoking carol ----
# carol's own long-lived session (drv_start passes no environment).
mkfifo "$T_DIR/carol2.in"
CHUBBY_CERT="$T_DIR/carol.crt" CHUBBY_KEY="$T_DIR/carol.key" "$DRV" -c 4000 -t 4000 shell \
	<"$T_DIR/carol2.in" >"$T_DIR/carol2.out" 2>&1 &
DRV_PID[carol2]=$!
exec {cfd}>"$T_DIR/carol2.in"
DRV_FD[carol2]=$cfd
check "carol's session is ready" wait_for 20 grep -q '^ready' "$T_DIR/carol2.out"
check "carol's session writes" drv_ok carol2 put /ls/local/carol-file live
check "chubby-certs revoke adds carol to the CRL" "$CERTS" revoke --dir "$tls" "$T_DIR/carol.crt"
check "the CRL lists carol's serial" bash -c "openssl crl -in '$tls/ca.crl' -noout -text | grep -qi \"\$(openssl x509 -noout -serial -in '$T_DIR/carol.crt' | sed 's/serial=//')\""
check "lockctl reload after the revocation" L reload
check "the master closed carol's live connection, naming the revocation" \
	wait_for 15 bash -c "grep -h 'revoked' '$cell'/replica-*.log | grep -q carol"
expect "carol's session can no longer call, and says why" "^err .*revoked" drv carol2 put /ls/local/carol-file after
check_fails "carol cannot reconnect: the error names the revocation" "revoked" C cat /ls/local/carol-file
# A client without the CRL learns it from the replica's refusal.
check_fails "without a CRL of her own, carol is told the cell revoked her" "peer says our certificate has been revoked" \
	env CHUBBY_CA="$tls/ca.crt" CHUBBY_CERT="$T_DIR/carol.crt" CHUBBY_KEY="$T_DIR/carol.key" \
	"$LOCKCTL" -C "$(addr_of "$m")" -t 3000 cat /ls/local/carol-file
check "the admin's session keeps working" drv_ok admin put /ls/local/rot v5
check "new admin connections keep working" L cat /ls/local/rot

# ---- libchubby reads its files again when it reconnects ----
# The admin's certificate is replaced in place and the old one revoked:
# the master closes the session's connection, and the session reconnects
# with the new files, keeping its id.
sid=$(drv admin session | sed -n 's/^ok //p')
cp "$tls/client-admin.crt" "$T_DIR/admin-old.crt"
step "issue the admin a new certificate in place" "$CERTS" client --dir "$tls" --name admin
check "revoke the admin's old certificate" "$CERTS" revoke --dir "$tls" "$T_DIR/admin-old.crt"
check "lockctl reload, with the admin's new certificate" L reload
check "the master closed the admin session's connection made with the old one" \
	wait_for 15 bash -c "grep -h '(admin): E_AUTH: certificate revoked' '$cell'/replica-*.log"
check "the admin's session reconnects with the new certificate and writes" \
	drv_ok admin put /ls/local/rot v6
check "it is the same session" test "$(drv admin session | sed -n 's/^ok //p')" = "$sid"

# ---- revoking a replica's certificate: its peer links are refused ----
r=3; [ "$r" = "$m" ] && r=4
cp "$tls/replica-$r.crt" "$T_DIR/replica-$r.old.crt"
check "chubby-certs revoke replica $r" "$CERTS" revoke --dir "$tls" "$tls/replica-$r.crt"
for i in 1 2 3 4 5; do
	[ "$i" = "$r" ] && continue
	kill -HUP "$(pid_of "$i")"
done
check "replica $r's outgoing peer links are all refused" wait_for 20 bash -c "[ \"\$(curl -s 'http://127.0.0.$((10 + r)):$((port + 2))/status' | $PY -c 'import json,sys; print(json.load(sys.stdin)[\"peer_links_up\"])')\" = 0 ]"
check "the others log the refusal as a revocation" \
	wait_for 10 bash -c "grep -h 'revoked' '$cell'/replica-*.log | grep -q 'replica-$r\|peer $r'"
check "the cell keeps working without replica $r" L put /ls/local/rot v7
# A revoked replica certificate is that replica's fault, not the cell's:
# a client that reaches it first must go on to the others, not give up.
check "a client that tries replica $r first goes on to the others" \
	env CHUBBY_CA="$tls/ca.crt" CHUBBY_CERT="$tls/client-admin.crt" CHUBBY_KEY="$tls/client-admin.key" \
	CHUBBY_CRL="$tls/ca.crl" "$LOCKCTL" -C "$(addr_of "$r"),$(addr_of "$m")" -t 5000 cat /ls/local/rot
check "a client's CRL refuses replica $r as well" bash -c "! '$LOCKCTL' -C '$(addr_of "$r")' -t 3000 --json status >/dev/null 2>&1 || ! '$LOCKCTL' -C '$conf' -t 3000 --json status | grep -q '\"id\": *$r.*\"reachable\": *true'"
step "issue replica $r a new certificate" "$CERTS" replica --dir "$tls" --id "$r"
kill -HUP "$(pid_of "$r")"
check "replica $r's peer links come back with the new certificate" \
	wait_for 30 bash -c "[ \"\$(curl -s 'http://127.0.0.$((10 + r)):$((port + 2))/status' | $PY -c 'import json,sys; print(json.load(sys.stdin)[\"peer_links_up\"])')\" = 4 ]"
check "the cell converges with all five" wait_for 60 converged "$conf" 5

# ---- a sequencer key ----
check "chubby-certs seqkey writes a key" "$CERTS" seqkey --out "$T_DIR/new-seq.key"
check "the key is 64 hex digits" grep -qxE '[0-9a-f]{64}' "$T_DIR/new-seq.key"
check "the key file has mode 0600" test "$(stat -c %a "$T_DIR/new-seq.key")" = 600
check_fails "seqkey never overwrites a key" "exists" "$CERTS" seqkey --out "$T_DIR/new-seq.key"
drv admin open /ls/local/seqlock rwc >/dev/null
drv admin lock /ls/local/seqlock >/dev/null
seq=$(drv admin seq /ls/local/seqlock | sed -n 's/^ok //p')
check "a sequencer is issued" test -n "$seq"
check "the cell's key verifies it" drv_ok admin offline "$cell/seq.key" "$seq" "$seq"
expect "libchubby loads the new key (and finds the signature is not its own)" \
	"^err E_BAD_SEQUENCER .*signature" drv admin offline "$T_DIR/new-seq.key" "$seq" "$seq"

drv_stop admin
finish
