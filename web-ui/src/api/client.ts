// Typed calls to the larder API. Every request and response type comes from schema.d.ts, which is
// generated from the checked-in OpenAPI document (`npm run gen:api`; `npm run check:api` fails on
// drift), so a changed API breaks the build here rather than the page in production.
import type { components } from './schema';

export type Schemas = components['schemas'];
export type NamespaceInfo = Schemas['NamespaceInfo'];
export type NamespaceConfig = Schemas['NamespaceConfig'];
export type CreateNamespace = Schemas['CreateNamespace'];
export type AlertsOverview = Schemas['AlertsOverview'];
export type Alert = Schemas['Alert'];
export type AlertRule = Schemas['AlertRule'];
export type AlertRuleList = Schemas['AlertRuleList'];
export type NamespaceList = Schemas['NamespaceList'];
export type NodeInfo = Schemas['NodeInfo'];
export type ClusterInfo = Schemas['ClusterInfo'];
export type PluginDetails = Schemas['PluginDetails'];
export type PluginList = Schemas['PluginList'];
export type UploadedPlugin = Schemas['UploadedPlugin'];
export type ExperimentSpec = Schemas['ExperimentSpec'];
export type ExperimentReport = Schemas['ExperimentReport'];
export type ArmSpec = Schemas['ArmSpec'];
export type ArmReport = Schemas['ArmReport'];
export type Promotion = Schemas['Promotion'];
export type ShadowSpec = Schemas['ShadowSpec'];
export type ShadowReport = Schemas['ShadowReport'];
export type SessionInfo = Schemas['SessionInfo'];
export type TenantList = Schemas['TenantList'];
export type TenantView = Schemas['TenantView'];
export type UserList = Schemas['UserList'];
export type UserView = Schemas['UserView'];
export type PutUser = Schemas['PutUser'];

/** The session's CSRF token, sent on every request that changes something (see /v1/session). */
let csrfToken: string | null = null;
export function setCsrfToken(token: string | null) {
  csrfToken = token;
}

/** Fired when the node answers 401: the session ended (or there never was one). */
export const UNAUTHORIZED_EVENT = 'larder:unauthorized';

/** An API error, with the stable code and the server's message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {};
  const init: RequestInit = { method, headers, credentials: 'same-origin' };
  if (body instanceof ArrayBuffer) {
    init.body = body;
    headers['content-type'] = 'application/wasm';
  } else if (body !== undefined) {
    init.body = JSON.stringify(body);
    headers['content-type'] = 'application/json';
  }
  if (method !== 'GET' && csrfToken) headers['x-csrf-token'] = csrfToken;
  const response = await fetch(path, init);
  if (response.status === 401 && path !== '/v1/session') {
    dispatchEvent(new Event(UNAUTHORIZED_EVENT));
  }
  if (!response.ok) {
    let code = 'http_' + response.status;
    let message = response.statusText;
    try {
      const err = (await response.json()) as Schemas['ErrorBody'];
      code = err.error.code;
      message = err.error.message;
    } catch {
      // Not a JSON error body (a proxy in between?): keep the HTTP status.
    }
    throw new ApiError(response.status, code, message);
  }
  if (response.status === 204) return undefined as T;
  return (await response.json()) as T;
}

const nsPath = (ns: string) => `/v1/namespaces/${encodeURIComponent(ns)}`;

export const api = {
  health: async (): Promise<boolean> => (await fetch('/healthz')).ok,
  namespaces: () => call<NamespaceList>('GET', '/v1/namespaces'),
  node: () => call<NodeInfo>('GET', '/v1/node'),
  cluster: () => call<ClusterInfo>('GET', '/v1/cluster'),
  createNamespace: (req: CreateNamespace) => call<NamespaceInfo>('POST', '/v1/namespaces', req),
  updateNamespace: (name: string, config: NamespaceConfig) =>
    call<NamespaceInfo>('PUT', `/v1/namespaces/${encodeURIComponent(name)}`, config),
  plugins: () => call<PluginList>('GET', '/v1/plugins'),
  uploadPlugin: (name: string, description: string, module: ArrayBuffer) =>
    call<UploadedPlugin>(
      'POST',
      `/v1/plugins?${new URLSearchParams({ name, description })}`,
      module,
    ),
  namespace: (name: string) => call<NamespaceInfo>('GET', `/v1/namespaces/${encodeURIComponent(name)}`),
  /** The Prometheus exposition text (the experiments page reads which labs are running from it). */
  metricsText: async (): Promise<string> => {
    const response = await fetch('/metrics');
    if (response.status === 401) dispatchEvent(new Event(UNAUTHORIZED_EVENT));
    if (!response.ok) throw new ApiError(response.status, 'http_' + response.status, response.statusText);
    return response.text();
  },
  experiment: (ns: string) => call<ExperimentReport>('GET', `${nsPath(ns)}/experiment`),
  startExperiment: (ns: string, spec: ExperimentSpec) =>
    call<ExperimentReport>('PUT', `${nsPath(ns)}/experiment`, spec),
  stopExperiment: (ns: string) => call<ExperimentReport>('DELETE', `${nsPath(ns)}/experiment`),
  promoteArm: (ns: string, arm: string | null) =>
    call<Promotion>('POST', `${nsPath(ns)}/experiment/promote`, arm ? { arm } : {}),
  shadow: (ns: string) => call<ShadowReport>('GET', `${nsPath(ns)}/shadow`),
  startShadow: (ns: string, spec: ShadowSpec) => call<ShadowReport>('PUT', `${nsPath(ns)}/shadow`, spec),
  stopShadow: (ns: string) => call<ShadowReport>('DELETE', `${nsPath(ns)}/shadow`),
  session: () => call<SessionInfo>('GET', '/v1/session'),
  login: (key: string) => call<SessionInfo>('POST', '/v1/session', { key }),
  loginUser: (username: string, password: string) =>
    call<SessionInfo>('POST', '/v1/session', { username, password }),
  logout: () => call<void>('DELETE', '/v1/session'),
  tenants: () => call<TenantList>('GET', '/v1/tenants'),
  users: () => call<UserList>('GET', '/v1/users'),
  putUser: (name: string, change: PutUser) =>
    call<UserView>('PUT', `/v1/users/${encodeURIComponent(name)}`, change),
  deleteUser: (name: string) => call<void>('DELETE', `/v1/users/${encodeURIComponent(name)}`),
  alerts: () => call<AlertsOverview>('GET', '/v1/alerts'),
  alertRules: () => call<AlertRuleList>('GET', '/v1/alerts/rules'),
  createAlertRule: (rule: AlertRule) => call<AlertRule>('POST', '/v1/alerts/rules', rule),
  deleteAlertRule: (name: string) =>
    call<void>('DELETE', `/v1/alerts/rules/${encodeURIComponent(name)}`),
};
