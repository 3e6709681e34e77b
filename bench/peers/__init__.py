"""The peers of bench/presign.py, installed beside the product in one benchmark project:
django-s3-file-field and django-s3direct (``bench/requirements.txt``), configured as their
READMEs say, on the same settings, middleware, database and session auth as ours."""
