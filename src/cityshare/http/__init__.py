"""What the API and the web pages share: the middleware every request passes
(authentication, rate and body limits, JSON depth, edge headers), browser sessions and
CSRF tokens, error handlers answering problem+json, responses, the dependencies routes
take, and upload streaming. Below ``api/`` and ``web/``, which never import each other;
:mod:`cityshare.app` assembles the three."""
