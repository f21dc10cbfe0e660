"""The HTTP client every Twilio REST call shares (texts, redirecting queued calls, placing
callbacks): twilio's ``AsyncTwilioHttpClient`` sending Basic credentials as a header (the
library's ``aiohttp.BasicAuth`` is deprecated), with a timeout on every request. It lives
here, beside the webhook signatures, because both Twilio channels use it and channels never
import each other."""

from __future__ import annotations

from typing import Any

import aiohttp
from twilio.http.async_http_client import AsyncTwilioHttpClient

__all__ = ["RestHttpClient"]


class RestHttpClient(AsyncTwilioHttpClient):  # type: ignore[misc]  # twilio ships no type hints
    """``AsyncTwilioHttpClient`` sending Basic credentials as a header (the library's
    ``aiohttp.BasicAuth`` is deprecated) with a timeout on every request."""

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109  (the library calls it so)
        allow_redirects: bool = False,
    ) -> Any:
        headers = dict(headers or {})
        if auth is not None:
            headers["Authorization"] = aiohttp.encode_basic_auth(auth[0], auth[1])
        return await super().request(
            method,
            url,
            params=params,
            data=data,
            headers=headers,
            auth=None,
            timeout=self.timeout if timeout is None else timeout,
            allow_redirects=allow_redirects,
        )
