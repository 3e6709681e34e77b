// @vitest-environment happy-dom
import { act, useEffect } from "react";
import { createRoot, type Root } from "react-dom/client";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { AsyncImageError, type UploadHandlers, type Upload } from "../src/index.js";
import { useImageUpload, type ImageUpload } from "../src/react.js";
import { IMAGE, file, uploadOf } from "./fakes.js";

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

/** A client whose uploadImage the test drives: each call is recorded with its handlers. */
function stubClient() {
  const runs: Array<{
    handlers: UploadHandlers;
    resolve: (u: Upload) => void;
    reject: (e: unknown) => void;
  }> = [];
  const uploadImage = vi.fn(
    (_file: unknown, handlers: UploadHandlers = {}) =>
      new Promise<Upload>((resolve, reject) => {
        runs.push({ handlers, resolve, reject });
        handlers.signal?.addEventListener("abort", () =>
          reject(new AsyncImageError("The upload was aborted.", "ABORTED")),
        );
      }),
  );
  return { client: { uploadImage }, runs };
}

let container: HTMLElement;
let root: Root;
let hook: ImageUpload;

function Probe({
  client,
  cancelOnUnmount,
}: {
  client: ReturnType<typeof stubClient>["client"];
  cancelOnUnmount?: boolean;
}) {
  const state = useImageUpload(client, { cancelOnUnmount });
  useEffect(() => {
    hook = state;
  });
  return <p>{state.status}</p>;
}

beforeEach(() => {
  container = document.createElement("div");
  root = createRoot(container);
});
afterEach(() => act(() => root.unmount()));

async function render(client: ReturnType<typeof stubClient>["client"], cancelOnUnmount?: boolean) {
  await act(async () => root.render(<Probe client={client} cancelOnUnmount={cancelOnUnmount} />));
}

describe("useImageUpload", () => {
  it("goes IDLE → REQUESTING → the upload's statuses → READY, with progress", async () => {
    const { client, runs } = stubClient();
    await render(client);
    expect(hook.status).toBe("IDLE");
    let result: Promise<Upload | null> = Promise.resolve(null);
    await act(async () => {
      result = hook.start(file());
    });
    expect(hook.status).toBe("REQUESTING");
    const upload = uploadOf();
    const run = runs[0]!;
    await act(async () => run.handlers.onUpdate?.(upload));
    expect(hook.status).toBe("PENDING");
    await act(async () => run.handlers.onProgress?.({ loaded: 1, total: 2, fraction: 0.5 }));
    expect(hook.progress).toBe(0.5);
    expect(container.textContent).toBe("PENDING");
    const ready = { ...upload, status: "READY" as const, image: IMAGE };
    await act(async () => {
      run.handlers.onUpdate?.(ready);
      run.resolve(ready);
    });
    expect(await result).toEqual(ready);
    expect(hook.status).toBe("READY");
    expect(hook.upload?.image?.variants).toHaveLength(3);
    expect(hook.error).toBeNull();
  });

  it("a refusal is ERROR with the code; a FAILED upload keeps FAILED and carries UPLOAD_<code>", async () => {
    const { client, runs } = stubClient();
    await render(client);
    await act(async () => {
      void hook.start(file("x.svg", "image/svg+xml"));
    });
    await act(async () => runs[0]!.reject(new AsyncImageError("No SVG.", "UNSUPPORTED_CONTENT_TYPE")));
    expect([hook.status, hook.error?.code]).toEqual(["ERROR", "UNSUPPORTED_CONTENT_TYPE"]);

    await act(async () => {
      void hook.start(file());
    });
    const failed = uploadOf({ status: "FAILED", error: { code: "CORRUPT_IMAGE", message: "Broken." } });
    await act(async () => {
      runs[1]!.handlers.onUpdate?.(failed as Upload);
      runs[1]!.reject(new AsyncImageError("Broken.", "UPLOAD_CORRUPT_IMAGE"));
    });
    expect([hook.status, hook.error?.code]).toEqual(["FAILED", "UPLOAD_CORRUPT_IMAGE"]);
  });

  it("cancel() aborts the signal (uploadImage then cancels on the server): CANCELLED", async () => {
    const { client, runs } = stubClient();
    await render(client);
    await act(async () => {
      void hook.start(file());
    });
    await act(async () => hook.cancel());
    expect(runs[0]!.handlers.signal?.aborted).toBe(true);
    expect([hook.status, hook.error?.code]).toEqual(["CANCELLED", "ABORTED"]);
  });

  it("a new start() replaces the run in progress; the old run's updates are dropped", async () => {
    const { client, runs } = stubClient();
    await render(client);
    await act(async () => {
      void hook.start(file("a.jpg"));
    });
    await act(async () => {
      void hook.start(file("b.jpg"));
    });
    expect(runs[0]!.handlers.signal?.aborted).toBe(true);
    await act(async () =>
      runs[0]!.handlers.onUpdate?.(uploadOf({ filename: "a.jpg", status: "PROCESSING" })),
    );
    expect(hook.status).toBe("REQUESTING");
    await act(async () => runs[1]!.handlers.onUpdate?.(uploadOf({ filename: "b.jpg" })));
    expect([hook.status, hook.upload?.filename]).toEqual(["PENDING", "b.jpg"]);
    await act(async () => hook.reset());
    expect(hook.status).toBe("IDLE");
    expect(runs[1]!.handlers.signal?.aborted).toBe(true);
  });

  it("unmounting cancels an unfinished upload, unless cancelOnUnmount is false", async () => {
    const first = stubClient();
    await render(first.client);
    await act(async () => {
      void hook.start(file());
    });
    await act(async () => root.unmount());
    expect(first.runs[0]!.handlers.signal?.aborted).toBe(true);

    root = createRoot(container);
    const second = stubClient();
    await render(second.client, false);
    await act(async () => {
      void hook.start(file());
    });
    await act(async () => root.unmount());
    expect(second.runs[0]!.handlers.signal?.aborted).toBe(false);
    root = createRoot(container);
  });
});
