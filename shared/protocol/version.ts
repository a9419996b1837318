/** Version of the control-channel protocol spoken over `/api/v1/control/ws`. */
export const PROTOCOL_VERSION = 1;

/** Protocol versions Fusion accepts in `hello`. */
export const SUPPORTED_PROTOCOL_VERSIONS: readonly number[] = [1];

/** Path of the WebSocket endpoint, relative to Fusion's base URL. */
export const CONTROL_WS_PATH = '/api/v1/control/ws';

/** Path of the polling fallback endpoint, relative to Fusion's base URL. */
export const CONTROL_PULL_PATH = '/api/v1/control/configs/pull';

/** Header that carries the agent id on the WebSocket upgrade and on package downloads (the pull and status endpoints name the agent in `agent_id`). */
export const AGENT_ID_HEADER = 'x-fustor-agent-id';

/** Largest frame either side accepts, in bytes of UTF-8 JSON. */
export const DEFAULT_MAX_FRAME_BYTES = 4 * 1024 * 1024;

/**
 * Tighter limits for the frames an agent sends most or that Fusion keeps
 * (bytes of UTF-8 JSON). A frame over its type's limit is refused like one
 * over DEFAULT_MAX_FRAME_BYTES: `frame_too_large`, close 4009.
 */
export const FRAME_TYPE_MAX_BYTES: Readonly<Record<string, number>> = {
  hello: 64 * 1024,
  status: 256 * 1024,
  config_status: 64 * 1024,
  config_request: 8 * 1024,
  command_ack: 1024,
  command_result: 1024 * 1024,
  config_report: 2 * 1024 * 1024,
};

/**
 * Most pipes one `status` frame may list. An agent sends at most this many,
 * each `last_error` cut to STATUS_ERROR_CHARS, which keeps a frame under the
 * status byte limit.
 */
export const MAX_STATUS_PIPES = 500;
/** Characters of a pipe's `last_error` an agent puts in a `status` frame. */
export const STATUS_ERROR_CHARS = 256;
/** Longest an agent goes without a `status` frame while connected, in milliseconds. */
export const STATUS_INTERVAL_MS = 60_000;
