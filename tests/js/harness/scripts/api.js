// Stub of ComfyUI's /scripts/api.js for the editor harness: same URL scheme (/api prefix).
export const api = {
  apiURL: (route) => `/api${route}`,
  fetchApi: (route, init) => fetch(`/api${route}`, init),
};
