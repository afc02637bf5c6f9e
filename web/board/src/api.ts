// The board's only ways to the server: GraphQL over HTTP POST (queries, mutations) and the
// reference graphql-ws client (subscriptions, graphql-transport-ws). Both carry the token
// typed into the page, which stays in sessionStorage: this tab only.
import { createClient, type Client } from "graphql-ws";
import type { TypedDocumentString } from "./gql/graphql";

const TOKEN_KEY = "commpulse.token"; // the GraphiQL page reads the same key

export function token(): string {
  return sessionStorage.getItem(TOKEN_KEY) ?? "";
}

export function setToken(value: string): void {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

function authorization(): Record<string, string> {
  const secret = token();
  return secret ? { Authorization: `Bearer ${secret}` } : {};
}

export interface GraphQLErrorLike {
  message: string;
  extensions?: { code?: string };
}

/** A request that got GraphQL errors (or none of its data): their messages and codes. */
export class ApiError extends Error {
  constructor(
    readonly errors: GraphQLErrorLike[],
    readonly status: number,
  ) {
    super(errors.map((e) => e.message).join("; ") || `HTTP ${status}`);
  }

  get codes(): string[] {
    return this.errors.map((e) => e.extensions?.code ?? "");
  }
}

const endpoint = new URL("/graphql", location.href);

export async function request<R, V>(document: TypedDocumentString<R, V>, variables: V): Promise<R> {
  const response = await fetch(endpoint, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json", ...authorization() },
    body: JSON.stringify({ query: document.toString(), variables }),
  });
  let body: { data?: R | null; errors?: GraphQLErrorLike[] };
  try {
    body = (await response.json()) as typeof body;
  } catch {
    throw new ApiError([{ message: `HTTP ${response.status} ${response.statusText}` }], response.status);
  }
  if (body.errors?.length || body.data == null) {
    throw new ApiError(body.errors ?? [], response.status);
  }
  return body.data;
}

export interface Sink<R> {
  next(data: R): void;
  /** The subscription ended: the socket closed (a CloseEvent), or the server sent errors. */
  error(error: unknown): void;
  complete(): void;
}

/** One websocket shared by every subscription. It does not retry by itself: a dropped
 * connection errors every subscription, and each decides how to come back (the feed
 * resubscribes with its last cursor, so nothing is missed and nothing repeats). */
export function connect(on: { connected(): void; closed(event: unknown): void }): Client {
  const url = new URL(endpoint);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return createClient({
    url: url.href,
    connectionParams: authorization,
    lazy: true,
    retryAttempts: 0,
    on: { connected: () => on.connected(), closed: (event) => on.closed(event) },
  });
}

export function subscribe<R, V>(
  client: Client,
  document: TypedDocumentString<R, V>,
  variables: V,
  sink: Sink<R>,
): () => void {
  return client.subscribe<R>(
    { query: document.toString(), variables: variables as Record<string, unknown> },
    {
      next: (result) => {
        if (result.errors?.length || result.data == null) {
          sink.error(new ApiError([...(result.errors ?? [])] as GraphQLErrorLike[], 200));
        } else {
          sink.next(result.data);
        }
      },
      error: (error) => sink.error(error),
      complete: () => sink.complete(),
    },
  );
}
