// Stub of ComfyUI's /scripts/app.js for the editor harness: records registered extensions.
export const app = {
  extensions: [],
  graph: { setDirtyCanvas() {} },
  registerExtension(ext) {
    this.extensions.push(ext);
  },
};
