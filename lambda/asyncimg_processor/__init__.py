"""The image processor: a pure processing core, S3 event envelopes and a signed callback client.

Runs on AWS Lambda (``asyncimg_processor.handler.lambda_handler``) and, unchanged, inside the Django
worker (``manage.py asyncimg_worker``). It never imports Django. The modules are imported
explicitly (``from asyncimg_processor.callback import sign``) so that a user of the small modules
does not pay for importing Pillow.
"""
