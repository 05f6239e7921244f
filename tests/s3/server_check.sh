#!/usr/bin/env bash
# Checks that the project's S3 test server (scripts/s3-server.sh: Ceph's RADOS Gateway) behaves as
# the S3 backend needs S3 to: SigV4 signatures checked (a wrong secret gets 403), a conditional
# create (If-None-Match: *) won by exactly one of eight racing clients, If-Match as a compare-and-
# swap on the ETag, and a Date header on every reply. Run by scripts/s3-server.sh run (which sets
# the endpoint and the credentials).
set -uo pipefail

endpoint=${CACHIER_S3_ENDPOINT:?run through scripts/s3-server.sh run}
bucket="check-$$"
failures=0
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

check() {
    if [ "$1" = "$2" ]; then echo "ok     $3"; else echo "FAILED $3 (got $1, expected $2)"; failures=$((failures + 1)); fi
}

# s3 SECRET METHOD PATH [curl options...]: prints the HTTP status; the body goes to $scratch/body.
s3() {
    local secret=$1 method=$2 path=$3
    shift 3
    curl -s -o "$scratch/body" -D "$scratch/headers" -w '%{http_code}' -X "$method" \
        --aws-sigv4 "aws:amz:${AWS_REGION}:s3" --user "${AWS_ACCESS_KEY_ID}:${secret}" \
        -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$@" "$endpoint$path"
}

check "$(s3 "$AWS_SECRET_ACCESS_KEY" PUT "/$bucket")" 200 "a bucket is created"
check "$(s3 wrong-secret GET "/$bucket/")" 403 "a wrong secret is refused (403)"
grep -q "SignatureDoesNotMatch" "$scratch/body"
check $? 0 "... as SignatureDoesNotMatch"

for round in 1 2 3; do
    for client in 1 2 3 4 5 6 7 8; do
        curl -s -o /dev/null -w '%{http_code}\n' -X PUT --aws-sigv4 "aws:amz:${AWS_REGION}:s3" \
            --user "${AWS_ACCESS_KEY_ID}:${AWS_SECRET_ACCESS_KEY}" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" \
            -H "If-None-Match: *" --data-binary "client $client" "$endpoint/$bucket/race-$round" >>"$scratch/race-$round" &
    done
    wait
    check "$(grep -c '^200$' "$scratch/race-$round")" 1 "round $round: one of 8 conditional creates wins"
    check "$(grep -c '^412$' "$scratch/race-$round")" 7 "round $round: the 7 others get 412"
done

check "$(s3 "$AWS_SECRET_ACCESS_KEY" PUT "/$bucket/cas" --data-binary first)" 200 "an object is written"
etag=$(grep -i '^etag:' "$scratch/headers" | tr -d '\r"' | awk '{print $2}')
grep -qi '^date:' "$scratch/headers"
check $? 0 "replies carry the server's Date"
check "$(s3 "$AWS_SECRET_ACCESS_KEY" PUT "/$bucket/cas" -H "If-Match: $etag" --data-binary second)" 200 \
    "If-Match with the current ETag replaces the object"
check "$(s3 "$AWS_SECRET_ACCESS_KEY" PUT "/$bucket/cas" -H "If-Match: $etag" --data-binary third)" 412 \
    "If-Match with a stale ETag is refused (412)"
s3 "$AWS_SECRET_ACCESS_KEY" GET "/$bucket/cas" >/dev/null
check "$(cat "$scratch/body")" second "the object holds the winner's bytes"

[ "$failures" -eq 0 ]
