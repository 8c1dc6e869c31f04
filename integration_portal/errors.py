"""Django's error answers (an unmatched path, a Host not allowed, a refused permission, a crash)
as JSON under /api/, where callers are programs (UIS, the site script); the admin keeps its pages.

The inbound endpoint and the site script's endpoint answer their own errors in JSON; these cover
what reaches no view of ours: a path under /api/ that matches nothing, and a request that
CommonMiddleware refuses for its Host before any view runs."""

from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

API_PREFIX = "/api/"
BAD_HOST = "the Host header names no site this portal serves"


def _is_api(request: HttpRequest) -> bool:
    return request.path_info.startswith(API_PREFIX)


def _json(message: str, status: int) -> HttpResponse:
    return JsonResponse({"error": message}, status=status)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if not _is_api(request):
        return defaults.bad_request(request, exception)
    if isinstance(exception, DisallowedHost):
        # Not the exception's text: it names the host back and advises on ALLOWED_HOSTS.
        return _json(BAD_HOST, 400)
    return _json("bad request", 400)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if not _is_api(request):
        return defaults.permission_denied(request, exception)
    return _json("forbidden", 403)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if not _is_api(request):
        return defaults.page_not_found(request, exception)
    return _json("no such endpoint; UIS posts to /api/uis/events/<type>/ (see /api/docs/)", 404)


def server_error(request: HttpRequest) -> HttpResponse:
    if not _is_api(request):
        return defaults.server_error(request)
    return _json("internal error", 500)
