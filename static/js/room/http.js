// Same-origin requests with Django's CSRF token: the one place the page's scripts talk HTTP to
// the app (the notes API, the Calls proxy, the ICE servers, the recording's chunk uploads).

export function csrfToken(cookie = globalThis.document?.cookie || "") {
  return (
    cookie
      .split("; ")
      .find((c) => c.startsWith("csrftoken="))
      ?.split("=")[1] || ""
  );
}

// Resolves to {ok, status, data} (data: the JSON body, or {} when there is none); rejects only
// when no answer came (network error).
export async function fetchJson(url, { method = "GET", body } = {}) {
  const headers = method === "GET" ? {} : { "Content-Type": "application/json", "X-CSRFToken": csrfToken() };
  const response = await fetch(url, {
    method,
    credentials: "same-origin",
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  return { ok: response.ok, status: response.status, data };
}

// Sends raw bytes (a Blob) with the CSRF token, e.g. a recording chunk; the answer as
// fetchJson's {ok, status, data}. Rejects only when no answer came.
export async function sendBytes(url, body, { method = "PUT", contentType = "application/octet-stream" } = {}) {
  const response = await fetch(url, {
    method,
    credentials: "same-origin",
    headers: { "Content-Type": contentType, "X-CSRFToken": csrfToken() },
    body,
  });
  const data = await response.json().catch(() => ({}));
  return { ok: response.ok, status: response.status, data };
}
