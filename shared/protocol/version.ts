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

/** Longest an agent goes without a `status` frame while connected, in milliseconds. */
export const STATUS_INTERVAL_MS = 60_000;
