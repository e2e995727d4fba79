import boto3


def test_moto_server_is_a_real_http_endpoint(aws, bucket):
    s3 = boto3.client("s3")
    assert s3.meta.endpoint_url == aws.url
    s3.put_object(Bucket=bucket, Key="a b", Body=b"x")
    assert s3.get_object(Bucket=bucket, Key="a b")["Body"].read() == b"x"
