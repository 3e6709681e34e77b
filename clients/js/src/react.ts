/**
 * `useImageUpload`: one upload's state for a React component (React 18 or later; React Native
 * too). `@asyncimg/client/react`.
 */
import { useCallback, useEffect, useRef, useState } from "react";
import type { AsyncImageClient } from "./client.js";
import { AsyncImageError } from "./errors.js";
import { isTerminal, type UploadableFile } from "./files.js";
import type { Upload, UploadStatus } from "./types.js";

/** IDLE before start(), REQUESTING until the server grants the upload, then its own status. */
export type ImageUploadStatus = "IDLE" | "REQUESTING" | UploadStatus | "CANCELLED" | "ERROR";

export interface ImageUploadState {
  status: ImageUploadStatus;
  /** Of the POST to storage, 0 to 1. */
  progress: number;
  /** The upload as last pushed by the server (READY: `upload.image` is set). */
  upload: Upload | null;
  /** Why it did not reach READY: the refusal (ERROR), UPLOAD_<code> (FAILED, EXPIRED)… */
  error: AsyncImageError | null;
}

export interface ImageUpload extends ImageUploadState {
  /** Upload a file (cancelling the one in progress). Never rejects: the state tells. */
  start: (file: UploadableFile) => Promise<Upload | null>;
  /** Stop the transfer and cancel the upload on the server: status CANCELLED. */
  cancel: () => void;
  /** Back to IDLE (cancelling an upload in progress). */
  reset: () => void;
}

export interface ImageUploadOptions {
  /** Cancel an unfinished upload when the component unmounts (default true). */
  cancelOnUnmount?: boolean;
}

const IDLE: ImageUploadState = { status: "IDLE", progress: 0, upload: null, error: null };

export function useImageUpload(
  client: Pick<AsyncImageClient, "uploadImage">,
  options: ImageUploadOptions = {},
): ImageUpload {
  const [state, setState] = useState<ImageUploadState>(IDLE);
  const current = useRef<{ abort: AbortController } | null>(null);
  const cancelOnUnmount = options.cancelOnUnmount ?? true;

  /** Abort the run in progress (uploadImage then cancels it on the server); true if there was one. */
  const stop = useCallback(() => {
    const run = current.current;
    current.current = null;
    run?.abort.abort();
    return run !== null;
  }, []);

  const start = useCallback(
    async (file: UploadableFile) => {
      stop();
      const run = { abort: new AbortController() };
      current.current = run;
      // Updates of a run that was replaced, cancelled or unmounted are dropped.
      const update = (change: (s: ImageUploadState) => ImageUploadState) => {
        if (current.current === run) setState(change);
      };
      setState({ ...IDLE, status: "REQUESTING" });
      try {
        const ready = await client.uploadImage(file, {
          signal: run.abort.signal,
          onProgress: ({ fraction }) => update((s) => ({ ...s, progress: fraction })),
          onUpdate: (upload) => update((s) => ({ ...s, status: upload.status, upload })),
        });
        update((s) => ({ ...s, status: "READY", progress: 1, upload: ready }));
        if (current.current === run) current.current = null;
        return ready;
      } catch (caught) {
        const error =
          caught instanceof AsyncImageError
            ? caught
            : new AsyncImageError(String(caught), "ERROR", { cause: caught });
        update((s) => ({ ...s, status: isTerminal(s.status) ? s.status : "ERROR", error }));
        if (current.current === run) current.current = null;
        return null;
      }
    },
    [client, stop],
  );

  const cancel = useCallback(() => {
    if (!stop()) return;
    const error = new AsyncImageError("The upload was cancelled.", "ABORTED");
    setState((s) => ({ ...s, status: "CANCELLED", error }));
  }, [stop]);

  const reset = useCallback(() => {
    stop();
    setState(IDLE);
  }, [stop]);

  useEffect(
    () => () => {
      const run = current.current;
      current.current = null;
      if (run && cancelOnUnmount) run.abort.abort();
    },
    [cancelOnUnmount],
  );

  return { ...state, start, cancel, reset };
}
