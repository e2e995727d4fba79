"""s3grouper: S3 Inventory report -> size- and count-bounded sub-manifests for s3bundler."""
