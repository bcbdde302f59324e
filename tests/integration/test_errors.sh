#!/bin/bash
# test_errors.sh: errors a user can act on (issue 18 item 3).  A bad local
# TLS file makes lockctl exit 2 naming the file, and reaches a C program
# through chubby_last_error() after a failed chubby_open; decoder internals
# stay out of messages (checkseq); E_TOO_LARGE names the limit and its
# config option.
. "$(dirname "$0")/lib.sh"
t_time_limit 120

port=$(t_port)
cell="$T_DIR/cell"
conf="$cell/chubby.conf"
DRV="$BUILD/tests/integration/libchubby_driver"

check "cell comes up with 3 replicas" cell_up "$cell" --replicas 3 --base-port "$port"
export CHUBBY_CELL="$conf"

# fails_with CODE PATTERN lockctl-args...: exit status exactly CODE and the
# output (stdout and stderr) matches PATTERN.
fails_with() {
	local want=$1 pat=$2 out rc; shift 2
	out=$("$LOCKCTL" "$@" </dev/null 2>&1); rc=$?
	echo "$out"; echo "(exit $rc)"
	[ "$rc" -eq "$want" ] && grep -qE -- "$pat" <<<"$out"
}

# ---- unusable local TLS files: exit 2, the file named ----
missing_cert() { CHUBBY_CERT="$T_DIR/nonexistent.crt" fails_with 2 "nonexistent\.crt: No such file" ls; }
check "a missing client certificate: exit 2, the file named" missing_cert
missing_key() { CHUBBY_KEY="$T_DIR/nokey.key" fails_with 2 "nokey\.key: No such file" ls; }
check "a missing client key: exit 2, the file named" missing_key
missing_ca() { CHUBBY_CA="$T_DIR/noca.crt" fails_with 2 "noca\.crt: No such file" ls; }
check "a missing CA file: exit 2, the file named" missing_ca
garbage_cert() {
	echo "not a certificate" >"$T_DIR/garbage.crt"
	CHUBBY_CERT="$T_DIR/garbage.crt" fails_with 2 "garbage\.crt: no PEM data" ls
}
check "a certificate file without PEM: exit 2, the file named" garbage_cert

# A C program sees the message in chubby_last_error() after chubby_open fails.
drv_open_msg() {
	local out
	out=$(CHUBBY_CERT="$T_DIR/nonexistent.crt" "$DRV" -C "$conf" open 2>&1)
	echo "$out"
	grep -qE '^err E_IO .*nonexistent\.crt: No such file' <<<"$out"
}
check "chubby_open with a bad certificate path: chubby_last_error() names it" drv_open_msg

# Other local files lockctl cannot use: exit 2 too, the file named.
check "checkseq --key with a missing key file: exit 2, the file named" \
	fails_with 2 "nokey\.hex.*No such file" checkseq --offline --key "$T_DIR/nokey.hex" 00
check "backup into a directory that does not exist: exit 2, the file named" \
	fails_with 2 "nodir/b\.bak.*No such file" backup "$T_DIR/nodir/b.bak"
check "backup --verify of a missing file: exit 2, the file named" \
	fails_with 2 "nofile\.bak.*No such file" backup --verify "$T_DIR/nofile.bak"

# ---- no decoder internals in messages ----
check "checkseq deadbeef: not a sequencer, no msgpack words" \
	bash -c "out=\$('$LOCKCTL' checkseq deadbeef 2>&1 </dev/null); echo \"\$out\"; \
		grep -q 'not a sequencer' <<<\"\$out\" && ! grep -qE 'a map|array|element' <<<\"\$out\""

# ---- E_TOO_LARGE names the limit and its option ----
big=$T_DIR/big
head -c 300000 /dev/zero | tr '\0' a >"$big"
# put_big PATH: puts the 300000 bytes (from standard input, not an argument:
# one argument may hold 128 KiB at most); fails with E_TOO_LARGE naming the
# limit, exit 1.
put_big() {
	local out rc
	out=$("$LOCKCTL" put "$1" <"$big" 2>&1); rc=$?
	echo "$out"; echo "(exit $rc)"
	[ "$rc" -eq 1 ] && grep -qE "E_TOO_LARGE: .*300000 bytes exceed max_contents \(262144\)" <<<"$out"
}
too_large_new() { put_big big; }
check "put of 300000 bytes (a new file): names max_contents" too_large_new
too_large_old() {
	"$LOCKCTL" put small x </dev/null || return 1
	put_big small
}
check "put of 300000 bytes (an existing file): names max_contents" too_large_old
# Over the server's frame limit the request cannot even be sent: libchubby
# says so, naming the limit (the cell's max_frame, 1 MiB by default).
too_large_frame() {
	local out rc
	head -c 2000000 /dev/zero | tr '\0' a >"$T_DIR/huge"
	out=$("$LOCKCTL" put huge <"$T_DIR/huge" 2>&1); rc=$?
	echo "$out"; echo "(exit $rc)"
	[ "$rc" -eq 1 ] && grep -qE "E_TOO_LARGE: .*exceeds the server's max_frame \(1048576 bytes\)" <<<"$out"
}
check "put of 2000000 bytes: names the server's max_frame" too_large_frame

# ---- a certificate the cell will never accept fails at once ----
# The bound is generous (10 s against a 30 s timeout) because the machine
# running the tests may be loaded: the point is that the open does not sit
# out its timeout retrying, not how fast the refusal is.
# fails_fast CODE PATTERN command...: exits CODE, output matches PATTERN,
# within 10 s.
fails_fast() {
	local want=$1 pat=$2 out rc t0 ms; shift 2
	t0=$(date +%s%N)
	out=$("$@" </dev/null 2>&1); rc=$?
	ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	echo "$out"; echo "(exit $rc after $ms ms)"
	[ "$rc" -eq "$want" ] && grep -qE -- "$pat" <<<"$out" && [ "$ms" -lt 10000 ]
}
step "make a second CA with a client of it" \
	bash -c "'$CERTS' init --dir '$T_DIR/evil' --cell local >/dev/null && '$CERTS' client --dir '$T_DIR/evil' --name mallory >/dev/null"
evil=(env CHUBBY_CERT="$T_DIR/evil/client-mallory.crt" CHUBBY_KEY="$T_DIR/evil/client-mallory.key")
check "a client certificate from another CA: lockctl exits 2 at once, naming the CA" \
	fails_fast 2 "E_TLS: .*does not trust the CA" "${evil[@]}" "$LOCKCTL" -t 30000 ls
check "a refused certificate: the message names the certificate file to check" \
	fails_fast 2 "does not trust the CA.*client-mallory\.crt" "${evil[@]}" "$LOCKCTL" -t 30000 ls
check "a refused certificate: an admin command's message names the file too" \
	fails_fast 2 "does not trust the CA.*client-mallory\.crt" "${evil[@]}" "$LOCKCTL" -t 30000 master
check "a client certificate from another CA: an admin command (master) exits 2 at once" \
	fails_fast 2 "does not trust the CA" "${evil[@]}" "$LOCKCTL" -t 30000 master
check "a client certificate from another CA: status exits 2 at once, each replica's reason shown" \
	fails_fast 2 "^1 .* unreachable +E_AUTH: .*does not trust the CA" "${evil[@]}" "$LOCKCTL" -t 30000 status
check "a client certificate from another CA: chubby_open fails at once with the reason" \
	fails_fast 1 "^err E_TLS .*does not trust the CA" "${evil[@]}" "$DRV" -C "$conf" -t 30000 open

# The cell's certificates refused by us: a CA file that is not the cell's.
check "a CA file of another CA: lockctl exits 2 at once, the replica's certificate refused" \
	fails_fast 2 "E_TLS: .*we refused the peer's certificate" \
	env CHUBBY_CA="$T_DIR/evil/ca.crt" "$LOCKCTL" -t 30000 ls

# An expired client certificate, signed by the cell's own CA: made with
# Python's cryptography (chubby-certs makes none in the past).
make_expired() {
	"$PY" - "$cell/tls/ca.crt" "$cell/tls/ca.key" "$T_DIR/expired" <<'PYEOF'
import datetime, sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
ca = x509.load_pem_x509_certificate(open(sys.argv[1], "rb").read())
cakey = serialization.load_pem_private_key(open(sys.argv[2], "rb").read(), None)
key = ec.generate_private_key(ec.SECP256R1())
now = datetime.datetime.now(datetime.timezone.utc)
name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "local"),
                  x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "chubby-client"),
                  x509.NameAttribute(NameOID.COMMON_NAME, "old")])
cert = (x509.CertificateBuilder().subject_name(name).issuer_name(ca.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=10))
        .not_valid_after(now - datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                       key_encipherment=False, data_encipherment=False, key_agreement=False,
                       key_cert_sign=False, crl_sign=False, encipher_only=False,
                       decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(cakey, hashes.SHA256()))
open(sys.argv[3] + ".crt", "wb").write(cert.public_bytes(serialization.Encoding.PEM))
open(sys.argv[3] + ".key", "wb").write(key.private_bytes(serialization.Encoding.PEM,
    serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
PYEOF
	chmod 600 "$T_DIR/expired.key"
}
step "make an expired client certificate from the cell's CA" make_expired
old=(env CHUBBY_CERT="$T_DIR/expired.crt" CHUBBY_KEY="$T_DIR/expired.key")
check "an expired client certificate: lockctl exits 2 at once, saying so" \
	fails_fast 2 "E_TLS: .*expired" "${old[@]}" "$LOCKCTL" -t 30000 ls

# ---- a stopped replica is down, not a TLS error ----
step "stop replica 3" "$CHUBBY_CELL_BIN" kill 3 --dir "$cell"
check "status shows the stopped replica as down (connection refused)" \
	bash -c "out=\$('$LOCKCTL' status </dev/null); echo \"\$out\"; \
		grep -qE '^3 +127\.0\.0\.13:$port +down +\(connection refused\)\$' <<<\"\$out\""

finish
