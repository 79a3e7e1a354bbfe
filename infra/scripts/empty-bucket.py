"""Deletes every object version and delete marker of a versioned bucket, so that Terraform can
destroy it (deploy.sh destroy with DESTROY_STATE=yes). Uses the AWS CLI, 1000 keys a call."""
import json
import subprocess
import sys

bucket = sys.argv[1]
while True:
    out = subprocess.run(["aws", "s3api", "list-object-versions", "--bucket", bucket, "--max-items", "1000",
                          "--output", "json"], check=True, capture_output=True, text=True).stdout
    listing = json.loads(out or "{}")
    objects = [{"Key": v["Key"], "VersionId": v["VersionId"]}
               for v in listing.get("Versions", []) + listing.get("DeleteMarkers", [])]
    if not objects:
        break
    subprocess.run(["aws", "s3api", "delete-objects", "--bucket", bucket,
                    "--delete", json.dumps({"Objects": objects, "Quiet": True})], check=True)
print(f"emptied s3://{bucket}")
