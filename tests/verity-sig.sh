#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0
#
# The library's fs-verity signatures (cfs_verity_sign, cfs_verity_verify,
# cfs_verity_formatted_digest, through tests/verity-helper) against the
# tools everyone else uses: signatures made by fsverity-utils' `fsverity
# sign` verify with ours and only with the right certificate and digest;
# ours are byte for byte fsverity's with an RSA key (PKCS#1 v1.5 is
# deterministic) and verify with `openssl cms -verify` over the formatted
# digest; ECDSA (randomised) both ways; SHA-256 and SHA-512 digests;
# malformed signatures and keys refused with the reason.
#
# Needs openssl and fsverity (fsverity-utils); skips (1..0 # SKIP) without.

set -uo pipefail

tests_dir=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/tap.sh
. "$tests_dir/tap.sh"

tap_require_commands openssl fsverity cmp xxd
helper=${VERITY_HELPER:-${CFS_BUILDDIR:-$tests_dir/../build}/tests/verity-helper}
[ -x "$helper" ] || {
	echo "Bail out! $helper is not built"
	exit 1
}

work=$(mktemp -d "${TMPDIR:-/tmp}/cfs-verity-sig.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1

# keys and self-signed certificates: two RSA, one EC
for k in rsa1 rsa2; do
	openssl req -x509 -newkey rsa:2048 -nodes -keyout $k.key -out $k.pem \
		-subj "/CN=composefs test $k" -days 2 2>/dev/null
done
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	-keyout ec.key -out ec.pem -subj "/CN=composefs test ec" -days 2 2>/dev/null
if [ -s rsa1.pem ] && [ -s rsa2.pem ] && [ -s ec.pem ]; then
	tap_ok "openssl made three keys and certificates (RSA, RSA, EC P-256)"
else
	echo "Bail out! openssl could not make the test keys"
	exit 1
fi
head -c 100000 /dev/urandom >file
head -c 100000 /dev/urandom >other

# expect_verify DESCRIPTION WANT(ok|refused PATTERN) DIGEST SIG CERT...
expect_verify()
{
	local what="$1" want="$2" pattern="${3:-}" out
	shift 3
	out=$("$helper" verify "$@" 2>&1)
	case "$want:$out" in
	ok:ok) tap_ok "$what" ;;
	refused:refused*)
		if printf '%s' "$out" | grep -qE -- "$pattern"; then
			tap_ok "$what"
			tap_diag "$out"
		else
			tap_not_ok "$what" "$out"
		fi
		;;
	*) tap_not_ok "$what" "$out" ;;
	esac
}

for alg in sha256 sha512; do
	digest=$(fsverity digest --hash-alg=$alg file | cut -d' ' -f1)
	odigest=$(fsverity digest --hash-alg=$alg other | cut -d' ' -f1)
	if [ "${digest%%:*}" != "$alg" ]; then
		tap_not_ok "$alg: fsverity digest" "$digest"
		continue
	fi
	fsverity sign --hash-alg=$alg file fsv-rsa.sig --key=rsa1.key --cert=rsa1.pem >/dev/null &&
		fsverity sign --hash-alg=$alg file fsv-ec.sig --key=ec.key --cert=ec.pem >/dev/null ||
		tap_not_ok "$alg: fsverity sign"

	expect_verify "$alg: fsverity sign's RSA signature verifies with its certificate" \
		ok "" "$digest" fsv-rsa.sig rsa1.pem
	expect_verify "$alg: ... and with its certificate among others" \
		ok "" "$digest" fsv-rsa.sig rsa2.pem ec.pem rsa1.pem
	expect_verify "$alg: fsverity sign's EC signature verifies with its certificate" \
		ok "" "$digest" fsv-ec.sig ec.pem
	expect_verify "$alg: refused with another certificate" \
		refused "EKEYREJECTED.*does not verify" "$digest" fsv-rsa.sig rsa2.pem
	expect_verify "$alg: refused for another file's digest" \
		refused "EKEYREJECTED" "$odigest" fsv-rsa.sig rsa1.pem
	cp fsv-rsa.sig bad.sig
	printf '\x55' | dd of=bad.sig bs=1 seek=$(($(stat -c %s bad.sig) - 10)) conv=notrunc status=none
	expect_verify "$alg: refused with a byte of the signature changed" \
		refused "EKEYREJECTED|EBADMSG" "$digest" bad.sig rsa1.pem
	head -c 300 /dev/urandom >junk.sig
	expect_verify "$alg: refused when the signature is not PKCS#7" \
		refused "EBADMSG.*not a PKCS#7" "$digest" junk.sig rsa1.pem

	if "$helper" sign "$digest" rsa1.key rsa1.pem >ours-rsa.sig 2>err &&
		cmp -s ours-rsa.sig fsv-rsa.sig; then
		tap_ok "$alg: our RSA signature is fsverity sign's, byte for byte ($(stat -c %s ours-rsa.sig) bytes)"
	else
		tap_not_ok "$alg: our RSA signature is fsverity sign's, byte for byte" "$(cat err; cmp ours-rsa.sig fsv-rsa.sig 2>&1)"
	fi
	"$helper" formatted "$digest" >formatted
	size=$((${#digest} / 2 - 3))
	if [ "$(head -c 8 formatted)" = FSVerity ] &&
		[ "$(stat -c %s formatted)" -eq $((12 + size)) ] &&
		[ "$(tail -c "$size" formatted | xxd -p | tr -d '\n')" = "${digest#*:}" ]; then
		tap_ok "$alg: the formatted digest is FSVerity, algorithm, size, digest ($((12 + size)) bytes)"
	else
		tap_not_ok "$alg: the formatted digest" "$(xxd formatted)"
	fi
	if "$helper" sign "$digest" ec.key ec.pem >ours-ec.sig 2>err &&
		out=$(openssl cms -verify -binary -inform DER -in ours-ec.sig \
			-content formatted -certfile ec.pem -CAfile ec.pem \
			-purpose any -out /dev/null 2>&1); then
		tap_ok "$alg: our EC signature verifies with openssl cms over the formatted digest"
	else
		tap_not_ok "$alg: our EC signature verifies with openssl cms" "$(cat err) $out"
	fi
	expect_verify "$alg: our EC signature verifies with ours" ok "" "$digest" ours-ec.sig ec.pem
	if out=$(openssl cms -verify -binary -inform DER -in ours-rsa.sig \
		-content formatted -certfile rsa2.pem -CAfile rsa2.pem \
		-purpose any -out /dev/null 2>&1); then
		tap_not_ok "$alg: openssl cms refuses our signature with another certificate" "$out"
	else
		tap_ok "$alg: openssl cms refuses our signature with another certificate"
	fi
done

digest=$(fsverity digest file | cut -d' ' -f1)
if out=$("$helper" sign "$digest" rsa2.key rsa1.pem 2>&1 >/dev/null); then
	tap_not_ok "signing with a key that is not the certificate's is refused" "it signed"
elif printf '%s' "$out" | grep -q "does not belong to the certificate"; then
	tap_ok "signing with a key that is not the certificate's is refused"
else
	tap_not_ok "signing with a key that is not the certificate's is refused (saying so)" "$out"
fi
if out=$("$helper" sign "$digest" missing.key rsa1.pem 2>&1 >/dev/null); then
	tap_not_ok "a missing key file is refused, naming it" "it signed"
elif printf '%s' "$out" | grep -q "missing.key"; then
	tap_ok "a missing key file is refused, naming it"
else
	tap_not_ok "a missing key file is refused, naming it" "$out"
fi
expect_verify "a certificate file that is no certificate is refused, naming it" \
	refused "file.*not a PEM certificate" "$digest" fsv-rsa.sig file

tap_done
