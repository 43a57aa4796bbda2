"""The wire: the only package that knows form encoding, XML and ``__type``.

Modules: ``model`` (botocore service models, Java-compatible patterns), ``query``
(AWS Query for IAM and STS), ``json`` (awsJson1_1 for Organizations), ``validate``
(model constraints and AWS's validation messages), ``xml`` (escaping) and
``errors`` (TesseraError → wire error, one function per protocol). Each module's
docstring lists its public functions.
"""
