"""Code shared by s3grouper and s3bundler: the sub-manifest format, S3 URIs, sizes, errors, AWS
clients and CLI plumbing. Each concept has exactly one home here."""
