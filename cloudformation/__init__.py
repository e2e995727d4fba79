"""s3bundler's CloudFormation template generators (troposphere): ``s3bundler_cfn`` (the core
stack) and ``s3bundler_spotfleet_cfn`` (the spot-fleet capacity stack).

They come with the ``[deploy]`` extra (``pip install 's3bundler[deploy]'``) and run as
``s3bundler-cfn`` / ``s3bundler-spotfleet-cfn``, as ``python -m cloudformation.s3bundler_cfn``,
or from a checkout as ``python cloudformation/s3bundler_cfn.py``. See docs/deploy.md.
"""

import importlib.util

if importlib.util.find_spec("troposphere") is None:
    # Installed without the extra (the container images are): say what to install rather
    # than fail on the first troposphere import.
    raise ModuleNotFoundError(
        "s3bundler's template generators need troposphere: pip install 's3bundler[deploy]'",
        name="troposphere",
    )
