#!/usr/bin/env bash
# Submits a PDF to a running Folio and waits for the results, as a user of Google's
# files:asyncBatchAnnotate would: upload the file to (emulated) Cloud Storage, POST the
# request, poll the long-running operation, then list and peek at output-A-to-B.json.
#
# Usage: examples/submit.sh [file.pdf|file.tiff|file.gif]
#   Without an argument it uploads a 3-page born-digital sample PDF written by this script
#   (with batchSize 2 that gives out/output-1-to-2.json and out/output-3-to-3.json).
#
# Environment (all optional):
#   FOLIO    Folio's HTTP address          (http://127.0.0.1:8080)
#   GCS      the GCS emulator, as the host reaches it (http://127.0.0.1:4443)
#   REQUEST  request JSON with one request  (examples/request.json); its first gs:// URI is
#            where the PDF is uploaded, its last one the output prefix
#   TIMEOUT  seconds to wait for the operation (300)
#   API_KEY  sent as the x-goog-api-key header when Folio has API keys (README, API keys
#            and bucket policy)
#
# Needs only bash, curl, grep and sed; uses jq to pretty-print when it is installed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FOLIO=${FOLIO:-http://127.0.0.1:8080}
GCS=${GCS:-http://127.0.0.1:4443}
REQUEST=${REQUEST:-$here/request.json}
TIMEOUT=${TIMEOUT:-300}
FOLIO=${FOLIO%/}
GCS=${GCS%/}

say() { printf '%s\n' "$*" >&2; }
die() { say "submit: $*"; exit 1; }

# Folio calls carry the API key, when there is one, in a header (not ?key=, which logs keep).
auth=()
[ -n "${API_KEY:-}" ] && auth=(-H "x-goog-api-key: $API_KEY")

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# urlencode STRING: percent-encode everything but RFC 3986 unreserved characters.
urlencode() {
	local s=$1 out='' c i
	for ((i = 0; i < ${#s}; i++)); do
		c=${s:i:1}
		case $c in
		[A-Za-z0-9._~-]) out+=$c ;;
		*) out+=$(printf '%%%02X' "'$c") ;;
		esac
	done
	printf '%s' "$out"
}

pretty() {
	if command -v jq >/dev/null 2>&1; then jq . "$1" 2>/dev/null || cat "$1"; else cat "$1"; fi
	echo
}

# json_strings FILE KEY: every string value of "KEY" in FILE, one a line, in order.
json_strings() {
	grep -o "\"$2\"[[:space:]]*:[[:space:]]*\"[^\"]*\"" "$1" | sed 's/.*:[[:space:]]*"\([^"]*\)"$/\1/' || true
}

# sample_pdf: a minimal valid 3-page PDF 1.4 with Helvetica text (byte offsets in the xref
# are exact; pdftotext and qpdf --check accept it). Do not re-indent or edit by hand.
sample_pdf() {
	cat <<'PDF'
%PDF-1.4
1 0 obj
<< /Type /Catalog /Pages 2 0 R >>
endobj
2 0 obj
<< /Type /Pages /Kids [4 0 R 6 0 R 8 0 R] /Count 3 >>
endobj
3 0 obj
<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>
endobj
4 0 obj
<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents 5 0 R >>
endobj
5 0 obj
<< /Length 180 >>
stream
BT
/F1 14 Tf
72 720 Td
18 TL
(Folio sample document) Tj
T* (Page one: the quick brown fox jumps over the lazy dog.) Tj
T* (Born-digital text, annotated from the text layer.) Tj
ET
endstream
endobj
6 0 obj
<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents 7 0 R >>
endobj
7 0 obj
<< /Length 128 >>
stream
BT
/F1 14 Tf
72 720 Td
18 TL
(Page two: pack my box with five dozen liquor jugs.) Tj
T* (Second line of the second page.) Tj
ET
endstream
endobj
8 0 obj
<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents 9 0 R >>
endobj
9 0 obj
<< /Length 104 >>
stream
BT
/F1 14 Tf
72 720 Td
18 TL
(Page three: sphinx of black quartz, judge my vow.) Tj
T* (The end.) Tj
ET
endstream
endobj
xref
0 10
0000000000 65535 f 
0000000009 00000 n 
0000000058 00000 n 
0000000127 00000 n 
0000000224 00000 n 
0000000350 00000 n 
0000000580 00000 n 
0000000706 00000 n 
0000000884 00000 n 
0000001010 00000 n 
trailer
<< /Size 10 /Root 1 0 R >>
startxref
1164
%%EOF
PDF
}

# --- what to upload, where ------------------------------------------------------
[ -r "$REQUEST" ] || die "cannot read request $REQUEST"
uris=$(grep -o '"gs://[^"]*"' "$REQUEST" | tr -d '"')
in_uri=$(printf '%s\n' "$uris" | head -n 1)
out_uri=$(printf '%s\n' "$uris" | tail -n 1)
if [ -z "$in_uri" ] || [ "$in_uri" = "$out_uri" ]; then
	die "$REQUEST needs a gs:// input URI and a gs:// destination URI"
fi
in_path=${in_uri#gs://}
bucket=${in_path%%/*}
in_object=${in_path#*/}
out_path=${out_uri#gs://}
out_bucket=${out_path%%/*}
out_prefix=${out_path#*/}

if [ $# -ge 1 ]; then
	pdf=$1
	[ -r "$pdf" ] || die "cannot read $pdf"
else
	pdf=$tmp/sample.pdf
	sample_pdf >"$pdf"
fi
# The request's mimeType follows the file's extension.
case $pdf in
*.tif | *.tiff | *.TIF | *.TIFF) mime=image/tiff ;;
*.gif | *.GIF) mime=image/gif ;;
*) mime=application/pdf ;;
esac
sed "s#\"application/pdf\"#\"$mime\"#" "$REQUEST" >"$tmp/request.json"

# --- Cloud Storage (JSON API; works whatever -public-host the emulator has) -----
curl -fsS -o /dev/null "$GCS/storage/v1/b" || die "no GCS emulator answers at $GCS (set GCS=...)"
for b in "$bucket" "$out_bucket"; do
	if ! curl -fs -o /dev/null "$GCS/storage/v1/b/$b"; then
		curl -fsS -o /dev/null -X POST -H 'Content-Type: application/json' \
			-d "{\"name\":\"$b\"}" "$GCS/storage/v1/b" || die "cannot create bucket $b"
		say "created bucket gs://$b"
	fi
done

# Remove outputs of earlier runs so the listing below shows only this run's files.
curl -fsS -o "$tmp/old.json" "$GCS/storage/v1/b/$out_bucket/o?prefix=$(urlencode "$out_prefix")"
for name in $(json_strings "$tmp/old.json" name); do
	case $name in "$out_prefix"*) curl -fsS -o /dev/null -X DELETE "$GCS/storage/v1/b/$out_bucket/o/$(urlencode "$name")" ;; esac
done

curl -fsS -o /dev/null -X POST --data-binary @"$pdf" -H "Content-Type: $mime" \
	"$GCS/upload/storage/v1/b/$bucket/o?uploadType=media&name=$(urlencode "$in_object")" ||
	die "upload of $pdf failed"
say "uploaded $pdf to $in_uri ($(wc -c <"$pdf") bytes)"

# --- submit -------------------------------------------------------------------------
# An Idempotency-Key makes the submit safe to repeat: when Folio is briefly unavailable
# (HTTP 503, a restart), it is sent again and yields one operation, not two.
key="submit-$$-$RANDOM$RANDOM-$(date +%s)"
deadline=$((SECONDS + TIMEOUT))
delay=1
# transient CODE: HTTP codes worth retrying (no answer, 502, 503, 504), as UNAVAILABLE is.
transient() { case $1 in 000 | 502 | 503 | 504) return 0 ;; *) return 1 ;; esac; }
# backoff WHAT: wait and double the delay (at most 10 s), or give up at the deadline.
backoff() {
	[ $SECONDS -lt $deadline ] || die "$1: still unavailable after ${TIMEOUT}s"
	say "$1: unavailable (HTTP $code); retrying in ${delay}s"
	sleep "$delay"
	delay=$((delay * 2 > 10 ? 10 : delay * 2))
}
while :; do
	code=$(curl -sS -o "$tmp/op.json" -w '%{http_code}' -X POST -H 'Content-Type: application/json' "${auth[@]}" \
		-H "Idempotency-Key: $key" --data-binary @"$tmp/request.json" "$FOLIO/v1/files:asyncBatchAnnotate" 2>/dev/null) || code=000
	transient "$code" || break
	backoff "submit to $FOLIO"
done
if [ "$code" != 200 ]; then
	say "submit: HTTP $code from POST $FOLIO/v1/files:asyncBatchAnnotate:"
	pretty "$tmp/op.json" >&2
	exit 1
fi
name=$(json_strings "$tmp/op.json" name | head -n 1)
[ -n "$name" ] || { pretty "$tmp/op.json" >&2; die "no operation name in the answer"; }
say "submitted: $name; polling GET $FOLIO/v1/$name"

# --- poll ---------------------------------------------------------------------------
# A poll that finds Folio unavailable is retried with backoff, as Google's clients retry
# UNAVAILABLE; the last answer that was an operation is kept.
delay=1
until grep -q '"done"[[:space:]]*:[[:space:]]*true' "$tmp/op.json"; do
	[ $SECONDS -lt $deadline ] || { pretty "$tmp/op.json" >&2; die "operation not done after ${TIMEOUT}s"; }
	sleep 1
	code=$(curl -sS -o "$tmp/poll.json" -w '%{http_code}' "${auth[@]}" "$FOLIO/v1/$name" 2>/dev/null) || code=000
	if transient "$code"; then
		printf '\n' >&2
		backoff "GET $FOLIO/v1/$name"
		continue
	fi
	[ "$code" = 200 ] || { pretty "$tmp/poll.json" >&2; die "HTTP $code from GET $FOLIO/v1/$name"; }
	delay=1
	mv "$tmp/poll.json" "$tmp/op.json"
	state=$(json_strings "$tmp/op.json" state | head -n 1)
	printf '\r  %s %ss ' "${state:-?}" "$((TIMEOUT - deadline + SECONDS))" >&2
done
printf '\n' >&2
echo "operation:"
pretty "$tmp/op.json"
if grep -q '"error"[[:space:]]*:' "$tmp/op.json"; then
	die "the operation ended with an error"
fi

# --- outputs ------------------------------------------------------------------------
curl -fsS -o "$tmp/list.json" "$GCS/storage/v1/b/$out_bucket/o?prefix=$(urlencode "$out_prefix")"
outputs=$(json_strings "$tmp/list.json" name | grep -F "$out_prefix" || true)
[ -n "$outputs" ] || die "no objects under $out_uri"
echo "outputs under $out_uri:"
for o in $outputs; do
	curl -fsS -o "$tmp/out.json" "$GCS/storage/v1/b/$out_bucket/o/$(urlencode "$o")?alt=media"
	pages=$(grep -o '"pageNumber"[[:space:]]*:[[:space:]]*[0-9]*' "$tmp/out.json" | grep -o '[0-9]*$' | tr '\n' ' ' || true)
	printf '  gs://%s/%s  %s bytes, pages %s\n' "$out_bucket" "$o" "$(wc -c <"$tmp/out.json")" "${pages:-?}"
done
first=$(printf '%s\n' "$outputs" | head -n 1)
echo "first 600 bytes of gs://$out_bucket/$first:"
curl -fsS "$GCS/storage/v1/b/$out_bucket/o/$(urlencode "$first")?alt=media" 2>/dev/null | head -c 600 || true
echo
