#!/bin/bash
# test_secure_recipe.sh: follows docs/OPERATIONS.md "10. Securing a cell"
# step by step (issue 18 item 5), with three principals: the superuser
# (admin), an ACL administrator (alice) and an ordinary user (bob).  Keys
# are made where they are used (openssl req) and only requests reach the CA
# (chubby-certs sign); a subtree is restricted to a team; a replica's
# certificate is rotated under load; bob's certificate is revoked.  Every
# denial is checked, and so is every allowed call.
. "$(dirname "$0")/lib.sh"
t_time_limit 300

port=$(t_port)
D="$T_DIR/sec"
mkdir -p "$D/data"
conf="$D/chubby.conf"
PIDS=""
trap 'for p in $PIDS; do kill $p 2>/dev/null; done; sleep 1; for p in $PIDS; do kill -9 $p 2>/dev/null; done; t_cleanup' EXIT

# as WHO lockctl-args...: lockctl with WHO's key and certificate.
as() {
	local who=$1; shift
	CHUBBY_CERT="$D/$who.crt" CHUBBY_KEY="$D/$who.key" "$LOCKCTL" -C "$conf" -t 10000 "$@" </dev/null
}
# denied WHO PATTERN lockctl-args...: fails, saying PATTERN.
denied() {
	local who=$1 pat=$2 out; shift 2
	if out=$(as "$who" "$@" 2>&1); then echo "succeeded: $out"; return 1; fi
	echo "$out"; grep -qE -- "$pat" <<<"$out"
}
# A key and a certificate request, made by whoever will hold the key.
request() { # name cn
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$D/$1.key" -out "$D/$1.csr" -subj "/CN=$2" 2>&1
}

# 1. The CA, and its (empty) CRL.
check "1. the cell CA" "$CERTS" init --dir "$D/ca" --cell sec
check "1. an empty CRL" "$CERTS" crl --dir "$D/ca"
# 2. Each replica's key and request; the CA holder signs each for its id and address.
for i in 1 2 3; do
	check "2. replica $i: key and request" request "replica-$i" "replica-$i"
	check "2. replica $i: signed by the CA holder for its id and address" "$CERTS" sign \
		--dir "$D/ca" --csr "$D/replica-$i.csr" --id "$i" --ip "127.0.0.$((10 + i))" \
		--out "$D/replica-$i.crt"
done
# 3. Each user's key and request, signed for a name.
for who in admin alice bob; do
	check "3. $who: key and request" request "$who" "$who"
	check "3. $who: signed by the CA holder" "$CERTS" sign --dir "$D/ca" --csr "$D/$who.csr" \
		--name "$who" --out "$D/$who.crt"
done
check_fails "3. a user's request for a replica certificate is refused" "replica" \
	"$CERTS" sign --dir "$D/ca" --csr "$D/replica-1.csr" --out "$D/stolen.crt"

# 4. The config: TLS files with the CRL, the superuser and the ACL administrators.
{
	echo "cell = sec"
	echo "data_dir = $D/data/replica-%i"
	echo "tls_ca = $D/ca/ca.crt"
	echo "tls_cert = $D/replica-%i.crt"
	echo "tls_key = $D/replica-%i.key"
	echo "tls_crl = $D/ca/ca.crl"
	echo "superuser = admin"
	echo "acl_admins = alice"
	for i in 1 2 3; do
		a="127.0.0.$((10 + i))"
		echo "replica $i client=$a:$port peer=$a:$((port + 1)) status=$a:$((port + 2))"
	done
} >"$conf"
check "4. the config checks" "$CHUBBYD" --check-config -c "$conf"
# 5. First start: every replica with --init, once.
for i in 1 2 3; do
	setsid "$CHUBBYD" -c "$conf" -i "$i" --init >>"$D/replica-$i.log" 2>&1 </dev/null &
	echo $! >"$D/replica-$i.pid"
	PIDS="$PIDS $!"
	disown $!
done
check "5. a master is elected" wait_for 60 as admin master

# 6. A subtree for team A: its ACL file, the directory, its ACLs (alice, an
# ACL administrator, does it all; acl-admins keeps the change-ACL).
check "6. alice writes the ACL file acl/team-a (one principal a line)" as alice put acl/team-a "alice"
check_fails "6. bob cannot write ACL files" "E_PERMISSION" as bob put acl/team-a bob
check "6. alice makes the directory team-a" as alice mkdir team-a
check_fails "6. an open change-ACL is refused without --allow-open-change" "change" \
	as alice acl set team-a team-a team-a ''
check_fails "6. a missing ACL file is refused, named" "E_NOT_FOUND.*team-b" \
	as alice acl set team-a team-b team-b acl-admins
check "6. alice restricts team-a to the team" as alice acl set team-a team-a team-a acl-admins
check "6. alice writes in team-a" as alice put team-a/plan v1
check "6. alice reads it" bash -c "[ \"\$(CHUBBY_CERT='$D/alice.crt' CHUBBY_KEY='$D/alice.key' '$LOCKCTL' -C '$conf' cat team-a/plan)\" = v1 ]"
check "6. the superuser reads it" as admin cat team-a/plan
check "6. bob cannot read team-a/plan" denied bob E_PERMISSION cat team-a/plan
check "6. bob cannot write team-a/plan" denied bob E_PERMISSION put team-a/plan bob
check "6. bob cannot create in team-a" denied bob E_PERMISSION put team-a/bobs x
check "6. bob cannot re-ACL team-a" denied bob E_PERMISSION acl set team-a bobs bobs bobs
check "6. bob cannot list the sessions" denied bob "only the cell's superuser" sessions
check "6. bob may still use the open root" as bob put bobfile hi

# 7. Rotate replica 2's certificate under load: a new key and request, signed,
# put in place, `lockctl reload`; no client call fails meanwhile.
(
	n=0; f=0
	while [ ! -f "$D/stop-load" ]; do
		n=$((n + 1))
		as alice put team-a/load "$n" >/dev/null 2>>"$D/load.err" || f=$((f + 1))
	done
	echo "$n $f" >"$D/load.out"
) &
load=$!
check "7. replica 2: a new key and request" request replica-2.new replica-2
check "7. replica 2: the new certificate" "$CERTS" sign --dir "$D/ca" --csr "$D/replica-2.new.csr" \
	--id 2 --ip 127.0.0.12 --out "$D/replica-2.new.crt"
mv "$D/replica-2.new.key" "$D/replica-2.key"
mv "$D/replica-2.new.crt" "$D/replica-2.crt"
check "7. lockctl reload (superuser)" as admin reload
check "7. bob cannot reload" denied bob E_PERMISSION reload
served_fp() { # the fingerprint of the certificate replica 2 serves now
	openssl s_client -connect "127.0.0.12:$port" -cert "$D/alice.crt" -key "$D/alice.key" \
		-CAfile "$D/ca/ca.crt" </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256
}
new_fp=$(openssl x509 -in "$D/replica-2.crt" -noout -fingerprint -sha256)
check "7. replica 2 serves the new certificate" wait_for 10 bash -c "[ \"\$($(declare -f served_fp); D='$D' port=$port served_fp)\" = '$new_fp' ]"
sleep 1
touch "$D/stop-load"; wait $load
check "7. no write failed during the rotation" bash -c "cat '$D/load.out' '$D/load.err'; read n f <'$D/load.out'; [ \"\$n\" -gt 0 ] && [ \"\$f\" -eq 0 ]"

# 8. Revoke bob: the CRL again, every replica reloads; bob is out, alice is not.
check "8. revoke bob's certificate" "$CERTS" revoke --dir "$D/ca" "$D/bob.crt"
check "8. lockctl reload" as admin reload
check "8. bob is refused: revoked" denied bob "revoked" ls
check "8. alice still works" as alice cat team-a/plan
check "8. the superuser still works" as admin put team-a/after-revoke ok
finish
