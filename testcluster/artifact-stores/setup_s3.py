"""Sets up the moto S3 server for tests: an IAM user with an access key allowed everything, and
the test bucket. Runs within moto's first three unauthenticated calls (INITIAL_NO_AUTH_ACTION_COUNT=3);
every later request must be signed with this key. Prints "<access key id> <secret access key>"."""
import json
import sys

import boto3

endpoint, bucket = sys.argv[1], sys.argv[2]
anonymous = dict(endpoint_url=endpoint, region_name="us-east-1",
                 aws_access_key_id="setup", aws_secret_access_key="setup")
iam = boto3.client("iam", **anonymous)
iam.create_user(UserName="modelops-test")
iam.put_user_policy(UserName="modelops-test", PolicyName="all", PolicyDocument=json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}))
key = iam.create_access_key(UserName="modelops-test")["AccessKey"]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                  aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])
s3.create_bucket(Bucket=bucket)
print(key["AccessKeyId"], key["SecretAccessKey"])
