// The REST API, with the signed-in key. Every call acts for the creator chosen in the header.

const KEY_STORAGE = "coachline.apiKey";

export const session = {
  key: sessionStorage.getItem(KEY_STORAGE) || "",
  creatorId: null,
  isAdmin: false,
};

export function signIn(key) {
  session.key = key;
  sessionStorage.setItem(KEY_STORAGE, key);
}

export function signOut() {
  session.key = "";
  session.creatorId = null;
  sessionStorage.removeItem(KEY_STORAGE);
}

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

function withCreator(path) {
  if (!session.isAdmin || !session.creatorId) return path;
  const separator = path.includes("?") ? "&" : "?";
  return `${path}${separator}creator_id=${encodeURIComponent(session.creatorId)}`;
}

async function detail(response) {
  try {
    const body = await response.json();
    return typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail ?? body);
  } catch {
    return `${response.status} ${response.statusText}`;
  }
}

export async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${session.key}` };
  const options = { method, headers };
  if (body instanceof FormData) {
    options.body = body;
  } else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(withCreator(path), options);
  if (!response.ok) throw new ApiError(response.status, await detail(response));
  const type = response.headers.get("content-type") || "";
  return type.includes("application/json") ? response.json() : response.text();
}

// An upload with progress (fetch has no upload progress): resolves with the JSON answer.
export function upload(path, form, onProgress) {
  // The upload endpoint reads the creator from the form, like the file itself.
  if (session.isAdmin && session.creatorId) form.append("creator_id", session.creatorId);
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("POST", path);
    request.setRequestHeader("Authorization", `Bearer ${session.key}`);
    request.upload.onprogress = (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    };
    request.onload = () => {
      let body = {};
      try { body = JSON.parse(request.responseText); } catch { /* not JSON */ }
      if (request.status >= 200 && request.status < 300) resolve(body);
      else reject(new ApiError(request.status, typeof body.detail === "string" ? body.detail : request.statusText));
    };
    request.onerror = () => reject(new ApiError(0, "the server could not be reached"));
    request.send(form);
  });
}
