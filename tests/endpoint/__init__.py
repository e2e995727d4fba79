"""An instrumented local AWS endpoint for tests: moto's WSGI app (every service moto serves:
S3, SQS, CloudWatch...) behind a middleware that injects faults, switched on and off while a
run goes, and logs every request.

``with FaultServer() as server:`` (:mod:`tests.endpoint.process`) starts ``python -m
tests.endpoint`` on a free loopback port (werkzeug's threaded server, one connection per
request); ``server.env()`` points boto3 and the CLIs at it; ``server.set_faults(rule, ...)``,
``server.clear()``, ``server.rules()``, ``server.requests(**match)``, ``server.reset()``;
``server.client("s3", exempt=True)`` is a client no fault applies to (access key
``FAULTEXEMPT``), for seeding and inspecting.

Control paths (JSON):

- ``PUT /__faults/rules`` -- replace the rules: a list, or ``{"seed": n, "rules": [...]}``;
  ``POST`` appends; ``DELETE`` removes them all; ``GET`` lists them with ``matched``/``fired``;
- ``GET /__faults/log?since=N`` -- the request log from entry N: ``n t method service
  operation bucket key range status bytes_sent body_size fault latency_ms corrupted_at
  exempt`` (``status`` 0: no answer; ``bytes_sent`` < ``body_size``: a cut body);
  ``DELETE /__faults/log`` empties it.

A rule (:mod:`tests.endpoint.rules`) matches on ``service`` (SigV4 signing name from the
credential scope: ``s3``, ``sqs``, ``monitoring``; ``!s3`` = any but S3), ``operation`` (S3:
``GetObject`` -- ranged too --, ``PutObject``, ``UploadPart``, ``UploadPartCopy``,
``CreateMultipartUpload``, ``CompleteMultipartUpload``, ``CopyObject``, ``HeadObject``,
``ListObjects``...; others: the action, e.g. ``ReceiveMessage``), ``bucket``, ``key_prefix``,
``range`` (true/false: Range header present), ``min_size`` (damaging kinds: answers with at
least this many body bytes); fires with probability ``rate`` (seeded RNG: ``seed``), at most
``count`` times, between ``start`` and ``stop`` seconds after it was set. Kinds:

- ``latency`` (``ms``) -- wait before answering (every firing latency rule adds up);
- ``error`` (``status``, ``code``, ``message``) -- an AWS error answer in the service's
  protocol, before moto sees the request: nothing is stored;
- ``reset`` -- the connection is shut down before moto sees the request: no answer;
- ``outage`` -- ``reset`` for every matching request (``service`` defaults to ``s3``), meant
  with a ``start``/``stop`` window;
- ``reset_after`` -- moto handles the request (it takes effect), the answer is lost;
- ``cut`` (``fraction``) -- moto's status and headers with the full Content-Length, then only
  that share of the body, then the connection closes;
- ``corrupt`` (``offset``) -- one byte of moto's body inverted;
- ``copy_checksum`` (``algorithm``) -- not a fault: adds the CRC32/CRC32C/CRC64NVME/SHA
  checksum of the copied range to UploadPartCopy's ``CopyPartResult`` when the upload or the
  request asked for one with ``x-amz-checksum-algorithm`` (moto adds none).

Order per request: firing latency rules, then the first firing error/reset/outage, then moto,
then the first firing cut/corrupt/reset_after (only for 2xx answers).
"""
