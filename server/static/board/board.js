"use strict";
(() => {
  var __defProp = Object.defineProperty;
  var __defNormalProp = (obj, key, value) => key in obj ? __defProp(obj, key, { enumerable: true, configurable: true, writable: true, value }) : obj[key] = value;
  var __publicField = (obj, key, value) => __defNormalProp(obj, typeof key !== "symbol" ? key + "" : key, value);

  // node_modules/graphql-ws/dist/common-CGW11Fyb.js
  function extendedTypeof(val) {
    if (val === null) {
      return "null";
    }
    if (Array.isArray(val)) {
      return "array";
    }
    return typeof val;
  }
  function isObject(val) {
    return extendedTypeof(val) === "object";
  }
  function areGraphQLFormattedErrors(obj) {
    return Array.isArray(obj) && // must be at least one error
    obj.length > 0 && // error has at least a message
    obj.every((ob) => "message" in ob);
  }
  function limitCloseReason(reason, whenTooLong) {
    return reason.length < 124 ? reason : whenTooLong;
  }
  var GRAPHQL_TRANSPORT_WS_PROTOCOL = "graphql-transport-ws";
  var CloseCode = /* @__PURE__ */ ((CloseCode2) => {
    CloseCode2[CloseCode2["InternalServerError"] = 4500] = "InternalServerError";
    CloseCode2[CloseCode2["InternalClientError"] = 4005] = "InternalClientError";
    CloseCode2[CloseCode2["BadRequest"] = 4400] = "BadRequest";
    CloseCode2[CloseCode2["BadResponse"] = 4004] = "BadResponse";
    CloseCode2[CloseCode2["Unauthorized"] = 4401] = "Unauthorized";
    CloseCode2[CloseCode2["Forbidden"] = 4403] = "Forbidden";
    CloseCode2[CloseCode2["SubprotocolNotAcceptable"] = 4406] = "SubprotocolNotAcceptable";
    CloseCode2[CloseCode2["ConnectionInitialisationTimeout"] = 4408] = "ConnectionInitialisationTimeout";
    CloseCode2[CloseCode2["ConnectionAcknowledgementTimeout"] = 4504] = "ConnectionAcknowledgementTimeout";
    CloseCode2[CloseCode2["SubscriberAlreadyExists"] = 4409] = "SubscriberAlreadyExists";
    CloseCode2[CloseCode2["TooManyInitialisationRequests"] = 4429] = "TooManyInitialisationRequests";
    return CloseCode2;
  })(CloseCode || {});
  var MessageType = /* @__PURE__ */ ((MessageType2) => {
    MessageType2["ConnectionInit"] = "connection_init";
    MessageType2["ConnectionAck"] = "connection_ack";
    MessageType2["Ping"] = "ping";
    MessageType2["Pong"] = "pong";
    MessageType2["Subscribe"] = "subscribe";
    MessageType2["Next"] = "next";
    MessageType2["Error"] = "error";
    MessageType2["Complete"] = "complete";
    return MessageType2;
  })(MessageType || {});
  function validateMessage(val) {
    if (!isObject(val)) {
      throw new Error(
        `Message is expected to be an object, but got ${extendedTypeof(val)}`
      );
    }
    if (!val.type) {
      throw new Error(`Message is missing the 'type' property`);
    }
    if (typeof val.type !== "string") {
      throw new Error(
        `Message is expects the 'type' property to be a string, but got ${extendedTypeof(
          val.type
        )}`
      );
    }
    switch (val.type) {
      case "connection_init":
      case "connection_ack":
      case "ping":
      case "pong": {
        if (val.payload != null && !isObject(val.payload)) {
          throw new Error(
            `"${val.type}" message expects the 'payload' property to be an object or nullish or missing, but got "${val.payload}"`
          );
        }
        break;
      }
      case "subscribe": {
        if (typeof val.id !== "string") {
          throw new Error(
            `"${val.type}" message expects the 'id' property to be a string, but got ${extendedTypeof(
              val.id
            )}`
          );
        }
        if (!val.id) {
          throw new Error(
            `"${val.type}" message requires a non-empty 'id' property`
          );
        }
        if (!isObject(val.payload)) {
          throw new Error(
            `"${val.type}" message expects the 'payload' property to be an object, but got ${extendedTypeof(
              val.payload
            )}`
          );
        }
        if (typeof val.payload.query !== "string") {
          throw new Error(
            `"${val.type}" message payload expects the 'query' property to be a string, but got ${extendedTypeof(
              val.payload.query
            )}`
          );
        }
        if (val.payload.variables != null && !isObject(val.payload.variables)) {
          throw new Error(
            `"${val.type}" message payload expects the 'variables' property to be a an object or nullish or missing, but got ${extendedTypeof(
              val.payload.variables
            )}`
          );
        }
        if (val.payload.operationName != null && extendedTypeof(val.payload.operationName) !== "string") {
          throw new Error(
            `"${val.type}" message payload expects the 'operationName' property to be a string or nullish or missing, but got ${extendedTypeof(
              val.payload.operationName
            )}`
          );
        }
        if (val.payload.extensions != null && !isObject(val.payload.extensions)) {
          throw new Error(
            `"${val.type}" message payload expects the 'extensions' property to be a an object or nullish or missing, but got ${extendedTypeof(
              val.payload.extensions
            )}`
          );
        }
        break;
      }
      case "next": {
        if (typeof val.id !== "string") {
          throw new Error(
            `"${val.type}" message expects the 'id' property to be a string, but got ${extendedTypeof(
              val.id
            )}`
          );
        }
        if (!val.id) {
          throw new Error(
            `"${val.type}" message requires a non-empty 'id' property`
          );
        }
        if (!isObject(val.payload)) {
          throw new Error(
            `"${val.type}" message expects the 'payload' property to be an object, but got ${extendedTypeof(
              val.payload
            )}`
          );
        }
        break;
      }
      case "error": {
        if (typeof val.id !== "string") {
          throw new Error(
            `"${val.type}" message expects the 'id' property to be a string, but got ${extendedTypeof(
              val.id
            )}`
          );
        }
        if (!val.id) {
          throw new Error(
            `"${val.type}" message requires a non-empty 'id' property`
          );
        }
        if (!areGraphQLFormattedErrors(val.payload)) {
          throw new Error(
            `"${val.type}" message expects the 'payload' property to be an array of GraphQL errors, but got ${JSON.stringify(
              val.payload
            )}`
          );
        }
        break;
      }
      case "complete": {
        if (typeof val.id !== "string") {
          throw new Error(
            `"${val.type}" message expects the 'id' property to be a string, but got ${extendedTypeof(
              val.id
            )}`
          );
        }
        if (!val.id) {
          throw new Error(
            `"${val.type}" message requires a non-empty 'id' property`
          );
        }
        break;
      }
      default:
        throw new Error(`Invalid message 'type' property "${val.type}"`);
    }
    return val;
  }
  function parseMessage(data, reviver) {
    return validateMessage(
      typeof data === "string" ? JSON.parse(data, reviver) : data
    );
  }
  function stringifyMessage(msg, replacer) {
    validateMessage(msg);
    return JSON.stringify(msg, replacer);
  }

  // node_modules/graphql-ws/dist/client.js
  function createClient(options) {
    const {
      url,
      connectionParams,
      lazy = true,
      onNonLazyError = console.error,
      lazyCloseTimeout: lazyCloseTimeoutMs = 0,
      keepAlive = 0,
      disablePong,
      connectionAckWaitTimeout = 0,
      retryAttempts = 5,
      retryWait = async function randomisedExponentialBackoff(retries2) {
        const retryDelaySeconds = Math.pow(2, retries2);
        await new Promise(
          (resolve) => setTimeout(
            resolve,
            retryDelaySeconds * 1e3 + // add random timeout from 300ms to 3s
            Math.floor(Math.random() * (3e3 - 300) + 300)
          )
        );
      },
      shouldRetry = isLikeCloseEvent,
      on,
      webSocketImpl,
      /**
       * Generates a v4 UUID to be used as the ID using `Math`
       * as the random number generator. Supply your own generator
       * in case you need more uniqueness.
       *
       * Reference: https://gist.github.com/jed/982883
       */
      generateID = function generateUUID() {
        return "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx".replace(/[xy]/g, (c) => {
          const r = Math.random() * 16 | 0, v = c == "x" ? r : r & 3 | 8;
          return v.toString(16);
        });
      },
      jsonMessageReplacer: replacer,
      jsonMessageReviver: reviver
    } = options;
    let ws;
    if (webSocketImpl) {
      if (!isWebSocket(webSocketImpl)) {
        throw new Error("Invalid WebSocket implementation provided");
      }
      ws = webSocketImpl;
    } else if (typeof WebSocket !== "undefined") {
      ws = WebSocket;
    } else if (typeof global !== "undefined") {
      ws = global.WebSocket || // @ts-expect-error: Support more browsers
      global.MozWebSocket;
    } else if (typeof window !== "undefined") {
      ws = window.WebSocket || // @ts-expect-error: Support more browsers
      window.MozWebSocket;
    }
    if (!ws)
      throw new Error(
        "WebSocket implementation missing; on Node you can `import WebSocket from 'ws';` and pass `webSocketImpl: WebSocket` to `createClient`"
      );
    const WebSocketImpl = ws;
    const emitter = (() => {
      const message = /* @__PURE__ */ (() => {
        const listeners2 = {};
        return {
          on(id, listener) {
            listeners2[id] = listener;
            return () => {
              delete listeners2[id];
            };
          },
          emit(message2) {
            if ("id" in message2) listeners2[message2.id]?.(message2);
          }
        };
      })();
      const listeners = {
        connecting: on?.connecting ? [on.connecting] : [],
        opened: on?.opened ? [on.opened] : [],
        connected: on?.connected ? [on.connected] : [],
        ping: on?.ping ? [on.ping] : [],
        pong: on?.pong ? [on.pong] : [],
        message: on?.message ? [message.emit, on.message] : [message.emit],
        closed: on?.closed ? [on.closed] : [],
        error: on?.error ? [on.error] : []
      };
      return {
        onMessage: message.on,
        on(event, listener) {
          const l = listeners[event];
          l.push(listener);
          return () => {
            const i = l.indexOf(listener);
            if (i > -1) {
              l.splice(i, 1);
            }
          };
        },
        emit(event, ...args) {
          for (const listener of [...listeners[event]]) {
            listener(...args);
          }
        }
      };
    })();
    function errorOrClosed(cb) {
      const listening = [
        // errors are fatal and more critical than close events, throw them first
        emitter.on("error", (err) => {
          listening.forEach((unlisten) => unlisten());
          cb(err);
        }),
        // closes can be graceful and not fatal, throw them second (if error didnt throw)
        emitter.on("closed", (event) => {
          listening.forEach((unlisten) => unlisten());
          cb(event);
        })
      ];
      return () => listening.forEach((unlisten) => unlisten());
    }
    let connecting, locks = 0, lazyCloseTimeout, retrying = false, retries = 0, disposed = false;
    async function connect2() {
      clearTimeout(lazyCloseTimeout);
      const [socket, throwOnClose] = await (connecting ?? (connecting = new Promise(
        (connected2, denied) => (async () => {
          if (retrying) {
            await retryWait(retries);
            if (!locks) {
              connecting = void 0;
              return denied({ code: 1e3, reason: "All Subscriptions Gone" });
            }
            retries++;
          }
          emitter.emit("connecting", retrying);
          const socket2 = new WebSocketImpl(
            typeof url === "function" ? await url() : url,
            GRAPHQL_TRANSPORT_WS_PROTOCOL
          );
          let connectionAckTimeout, queuedPing;
          function enqueuePing() {
            if (isFinite(keepAlive) && keepAlive > 0) {
              clearTimeout(queuedPing);
              queuedPing = setTimeout(() => {
                if (socket2.readyState === WebSocketImpl.OPEN) {
                  socket2.send(stringifyMessage({ type: MessageType.Ping }));
                  emitter.emit("ping", false, void 0);
                }
              }, keepAlive);
            }
          }
          errorOrClosed((errOrEvent) => {
            connecting = void 0;
            clearTimeout(connectionAckTimeout);
            clearTimeout(queuedPing);
            denied(errOrEvent);
            if (errOrEvent instanceof TerminatedCloseEvent) {
              socket2.close(4499, "Terminated");
              socket2.onerror = null;
              socket2.onclose = null;
            }
          });
          socket2.onerror = (err) => emitter.emit("error", err);
          socket2.onclose = (event) => emitter.emit("closed", event);
          socket2.onopen = async () => {
            try {
              emitter.emit("opened", socket2);
              const payload = typeof connectionParams === "function" ? await connectionParams() : connectionParams;
              if (socket2.readyState !== WebSocketImpl.OPEN) return;
              socket2.send(
                stringifyMessage(
                  payload ? {
                    type: MessageType.ConnectionInit,
                    payload
                  } : {
                    type: MessageType.ConnectionInit
                    // payload is completely absent if not provided
                  },
                  replacer
                )
              );
              if (isFinite(connectionAckWaitTimeout) && connectionAckWaitTimeout > 0) {
                connectionAckTimeout = setTimeout(() => {
                  socket2.close(
                    CloseCode.ConnectionAcknowledgementTimeout,
                    "Connection acknowledgement timeout"
                  );
                }, connectionAckWaitTimeout);
              }
              enqueuePing();
            } catch (err) {
              emitter.emit("error", err);
              socket2.close(
                CloseCode.InternalClientError,
                limitCloseReason(
                  err instanceof Error ? err.message : String(err),
                  "Internal client error"
                )
              );
            }
          };
          let acknowledged = false;
          socket2.onmessage = ({ data }) => {
            try {
              const message = parseMessage(data, reviver);
              emitter.emit("message", message);
              if (message.type === "ping" || message.type === "pong") {
                emitter.emit(message.type, true, message.payload);
                if (message.type === "pong") {
                  enqueuePing();
                } else if (!disablePong) {
                  socket2.send(
                    stringifyMessage(
                      message.payload ? {
                        type: MessageType.Pong,
                        payload: message.payload
                      } : {
                        type: MessageType.Pong
                        // payload is completely absent if not provided
                      },
                      replacer
                    )
                  );
                  emitter.emit("pong", false, message.payload);
                }
                return;
              }
              if (acknowledged) return;
              if (message.type !== MessageType.ConnectionAck)
                throw new Error(
                  `First message cannot be of type ${message.type}`
                );
              clearTimeout(connectionAckTimeout);
              acknowledged = true;
              emitter.emit("connected", socket2, message.payload, retrying);
              retrying = false;
              retries = 0;
              const throwOnClose2 = new Promise(
                (_, reject) => errorOrClosed(reject)
              );
              throwOnClose2.catch(() => {
              });
              connected2([socket2, throwOnClose2]);
            } catch (err) {
              socket2.onmessage = null;
              emitter.emit("error", err);
              socket2.close(
                CloseCode.BadResponse,
                limitCloseReason(
                  err instanceof Error ? err.message : String(err),
                  "Bad response"
                )
              );
            }
          };
        })()
      )));
      if (socket.readyState === WebSocketImpl.CLOSING) await throwOnClose;
      let release = () => {
      };
      const released = new Promise((resolve) => release = resolve);
      return [
        socket,
        release,
        // resolves on release or rejects on error/close, whichever comes first.
        // not racing with throwOnClose on purpose, it lives as long as the socket
        // and every race would leak memory per operation
        new Promise((resolve, reject) => {
          const unlisten = errorOrClosed(reject);
          if (socket.readyState !== WebSocketImpl.OPEN)
            throwOnClose.catch(reject);
          released.then(() => {
            unlisten();
            if (!locks) {
              const complete = () => socket.close(1e3, "Normal Closure");
              if (isFinite(lazyCloseTimeoutMs) && lazyCloseTimeoutMs > 0) {
                clearTimeout(lazyCloseTimeout);
                lazyCloseTimeout = setTimeout(() => {
                  if (!locks && socket.readyState === WebSocketImpl.OPEN)
                    complete();
                }, lazyCloseTimeoutMs);
              } else {
                complete();
              }
            }
            resolve();
          });
        })
      ];
    }
    function shouldRetryConnectOrThrow(errOrCloseEvent) {
      if (isLikeCloseEvent(errOrCloseEvent) && (isFatalInternalCloseCode(errOrCloseEvent.code) || [
        CloseCode.InternalServerError,
        CloseCode.InternalClientError,
        CloseCode.BadRequest,
        CloseCode.BadResponse,
        CloseCode.Unauthorized,
        // CloseCode.Forbidden, might grant access out after retry
        CloseCode.SubprotocolNotAcceptable,
        // CloseCode.ConnectionInitialisationTimeout, might not time out after retry
        // CloseCode.ConnectionAcknowledgementTimeout, might not time out after retry
        CloseCode.SubscriberAlreadyExists,
        CloseCode.TooManyInitialisationRequests
        // 4499, // Terminated, probably because the socket froze, we want to retry
      ].includes(errOrCloseEvent.code)))
        throw errOrCloseEvent;
      if (disposed) return false;
      if (isLikeCloseEvent(errOrCloseEvent) && errOrCloseEvent.code === 1e3)
        return locks > 0;
      if (!retryAttempts || retries >= retryAttempts) throw errOrCloseEvent;
      if (!shouldRetry(errOrCloseEvent)) throw errOrCloseEvent;
      return retrying = true;
    }
    if (!lazy) {
      (async () => {
        locks++;
        for (; ; ) {
          try {
            const [, , throwOnClose] = await connect2();
            await throwOnClose;
          } catch (errOrCloseEvent) {
            try {
              if (!shouldRetryConnectOrThrow(errOrCloseEvent)) return;
            } catch (errOrCloseEvent2) {
              return onNonLazyError?.(errOrCloseEvent2);
            }
          }
        }
      })();
    }
    function subscribe2(payload, sink) {
      const id = generateID(payload);
      let done = false, errored = false, releaser = () => {
        locks--;
        done = true;
      };
      (async () => {
        locks++;
        for (; ; ) {
          try {
            const [socket, release, waitForReleaseOrThrowOnClose] = await connect2();
            if (done) {
              waitForReleaseOrThrowOnClose.catch(() => {
              });
              return release();
            }
            const unlisten = emitter.onMessage(id, (message) => {
              switch (message.type) {
                case MessageType.Next: {
                  sink.next(message.payload);
                  return;
                }
                case MessageType.Error: {
                  errored = true, done = true;
                  sink.error(message.payload);
                  releaser();
                  return;
                }
                case MessageType.Complete: {
                  done = true;
                  releaser();
                  return;
                }
              }
            });
            socket.send(
              stringifyMessage(
                {
                  id,
                  type: MessageType.Subscribe,
                  payload
                },
                replacer
              )
            );
            releaser = () => {
              if (!done && socket.readyState === WebSocketImpl.OPEN)
                socket.send(
                  stringifyMessage(
                    {
                      id,
                      type: MessageType.Complete
                    },
                    replacer
                  )
                );
              locks--;
              done = true;
              release();
            };
            await waitForReleaseOrThrowOnClose.finally(unlisten);
            return;
          } catch (errOrCloseEvent) {
            if (!shouldRetryConnectOrThrow(errOrCloseEvent)) return;
          }
        }
      })().then(() => {
        if (!errored) sink.complete();
      }).catch((err) => {
        sink.error(err);
      });
      return () => {
        if (!done) releaser();
      };
    }
    return {
      on: emitter.on,
      subscribe: subscribe2,
      iterate(request2) {
        const pending = [];
        const deferred = {
          done: false,
          error: null,
          resolve: () => {
          }
        };
        const dispose = subscribe2(request2, {
          next(val) {
            pending.push(val);
            deferred.resolve();
          },
          error(err) {
            deferred.done = true;
            deferred.error = err;
            deferred.resolve();
          },
          complete() {
            deferred.done = true;
            deferred.resolve();
          }
        });
        const iterator = (async function* iterator2() {
          for (; ; ) {
            if (!pending.length) {
              await new Promise((resolve) => deferred.resolve = resolve);
            }
            while (pending.length) {
              yield pending.shift();
            }
            if (deferred.error) {
              throw deferred.error;
            }
            if (deferred.done) {
              return;
            }
          }
        })();
        iterator.throw = async (err) => {
          if (!deferred.done) {
            deferred.done = true;
            deferred.error = err;
            deferred.resolve();
          }
          return { done: true, value: void 0 };
        };
        iterator.return = async () => {
          dispose();
          return { done: true, value: void 0 };
        };
        return iterator;
      },
      async dispose() {
        disposed = true;
        if (connecting) {
          const [socket] = await connecting;
          socket.close(1e3, "Normal Closure");
        }
      },
      terminate() {
        if (connecting) {
          emitter.emit("closed", new TerminatedCloseEvent());
        }
      }
    };
  }
  var TerminatedCloseEvent = class extends Error {
    constructor() {
      super(...arguments);
      __publicField(this, "name", "TerminatedCloseEvent");
      __publicField(this, "message", "4499: Terminated");
      __publicField(this, "code", 4499);
      __publicField(this, "reason", "Terminated");
      __publicField(this, "wasClean", false);
    }
  };
  function isLikeCloseEvent(val) {
    return isObject(val) && "code" in val && "reason" in val;
  }
  function isFatalInternalCloseCode(code) {
    if ([
      1e3,
      // Normal Closure is not an erroneous close code
      1001,
      // Going Away
      1006,
      // Abnormal Closure
      1005,
      // No Status Received
      1012,
      // Service Restart
      1013,
      // Try Again Later
      1014
      // Bad Gateway
    ].includes(code))
      return false;
    return code >= 1e3 && code <= 1999;
  }
  function isWebSocket(val) {
    return typeof val === "function" && "constructor" in val && "CLOSED" in val && "CLOSING" in val && "CONNECTING" in val && "OPEN" in val;
  }

  // web/board/src/api.ts
  var TOKEN_KEY = "commpulse.token";
  function token() {
    return sessionStorage.getItem(TOKEN_KEY) ?? "";
  }
  function setToken(value) {
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
  }
  function authorization() {
    const secret = token();
    return secret ? { Authorization: `Bearer ${secret}` } : {};
  }
  var ApiError = class extends Error {
    constructor(errors, status) {
      super(errors.map((e) => e.message).join("; ") || `HTTP ${status}`);
      __publicField(this, "errors", errors);
      __publicField(this, "status", status);
    }
    get codes() {
      return this.errors.map((e) => e.extensions?.code ?? "");
    }
  };
  var endpoint = new URL("/graphql", location.href);
  async function request(document2, variables) {
    const response = await fetch(endpoint, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json", ...authorization() },
      body: JSON.stringify({ query: document2.toString(), variables })
    });
    let body;
    try {
      body = await response.json();
    } catch {
      throw new ApiError([{ message: `HTTP ${response.status} ${response.statusText}` }], response.status);
    }
    if (body.errors?.length || body.data == null) {
      throw new ApiError(body.errors ?? [], response.status);
    }
    return body.data;
  }
  function connect(on) {
    const url = new URL(endpoint);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    return createClient({
      url: url.href,
      connectionParams: authorization,
      lazy: true,
      retryAttempts: 0,
      on: { connected: () => on.connected(), closed: (event) => on.closed(event) }
    });
  }
  function subscribe(client2, document2, variables, sink) {
    return client2.subscribe(
      { query: document2.toString(), variables },
      {
        next: (result) => {
          if (result.errors?.length || result.data == null) {
            sink.error(new ApiError([...result.errors ?? []], 200));
          } else {
            sink.next(result.data);
          }
        },
        error: (error) => sink.error(error),
        complete: () => sink.complete()
      }
    );
  }

  // web/board/src/dom.ts
  function h(tag, attributes = {}, ...children) {
    const element = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) {
      if (value === void 0 || value === false) continue;
      if (typeof value === "function") {
        element.addEventListener(name.replace(/^on/, ""), value);
      } else {
        element.setAttribute(name, value === true ? "" : String(value));
      }
    }
    for (const child of children) {
      if (child === null || child === void 0 || child === false) continue;
      element.append(child instanceof Node ? child : String(child));
    }
    return element;
  }
  function byId(id) {
    const element = document.getElementById(id);
    if (!element) throw new Error(`#${id} is missing from the page`);
    return element;
  }

  // web/board/src/format.ts
  var KIND_LABELS = {
    EMAIL: "Email",
    SMS: "SMS",
    WEB_PUSH: "Web push",
    MOBILE_PUSH: "Mobile push",
    DYNAMIC_CONTENT: "Dynamic content",
    IN_APP: "In-app",
    SCREEN_VIEW: "Screen view",
    LANDING_PAGE: "Landing page"
  };
  var STATUSES = [
    "DRAFT",
    "SCHEDULED",
    "SENDING",
    "ACTIVE",
    "PAUSED",
    "PUBLISHED",
    "FINISHED",
    "STOPPED",
    "ERROR"
  ];
  var NOT_SENT_EVENT = {
    EMAIL: "message.notSent",
    SMS: "sms.notSent",
    MOBILE_PUSH: "push.notSent",
    WEB_PUSH: "webpush.notSent"
  };
  var ACTION_LABELS = {
    SCHEDULE: "Schedule",
    UNSCHEDULE: "Unschedule",
    LAUNCH: "Launch",
    PAUSE: "Pause",
    RESUME: "Resume",
    STOP: "Stop",
    PUBLISH: "Publish",
    UNPUBLISH: "Unpublish"
  };
  var numbers = new Intl.NumberFormat("en-US");
  var count = (n) => numbers.format(n);
  function time(iso) {
    return new Date(iso).toLocaleTimeString("en-GB", { hour12: false });
  }
  function statusOf(row) {
    const aliased = row;
    for (const key of [
      "emailStatus",
      "smsStatus",
      "webPushStatus",
      "mobilePushStatus",
      "dynamicContentStatus",
      "inAppStatus",
      "screenViewStatus",
      "landingPageStatus"
    ]) {
      const value = aliased[key];
      if (typeof value === "string") return value;
    }
    return "?";
  }
  function plural(n, one, many = `${one}s`) {
    return `${count(n)} ${n === 1 ? one : many}`;
  }

  // web/board/src/gql/graphql.ts
  var TypedDocumentString = class extends String {
    constructor(value, __meta__) {
      super(value);
      __publicField(this, "__apiType");
      __publicField(this, "value");
      __publicField(this, "__meta__");
      this.value = value;
      this.__meta__ = __meta__;
    }
    toString() {
      return this.value;
    }
  };
  var RowFragmentDoc = new TypedDocumentString(`
    fragment Row on Communication {
  ... on CommunicationBase {
    id
    name
    kind
    origin
    version
    updatedAt
    availableActions
  }
  ... on EmailCampaign {
    emailStatus: status
  }
  ... on SmsCampaign {
    smsStatus: status
  }
  ... on WebPushCampaign {
    webPushStatus: status
  }
  ... on MobilePushCampaign {
    mobilePushStatus: status
  }
  ... on DynamicContent {
    dynamicContentStatus: status
  }
  ... on InAppMessage {
    inAppStatus: status
  }
  ... on ScreenView {
    screenViewStatus: status
  }
  ... on LandingPage {
    landingPageStatus: status
  }
}
    `, { "fragmentName": "Row" });
  var OutcomeFragmentDoc = new TypedDocumentString(`
    fragment Outcome on CommunicationPayload {
  communication {
    ...Row
  }
  userErrors {
    code
    message
    field
  }
}
    fragment Row on Communication {
  ... on CommunicationBase {
    id
    name
    kind
    origin
    version
    updatedAt
    availableActions
  }
  ... on EmailCampaign {
    emailStatus: status
  }
  ... on SmsCampaign {
    smsStatus: status
  }
  ... on WebPushCampaign {
    webPushStatus: status
  }
  ... on MobilePushCampaign {
    mobilePushStatus: status
  }
  ... on DynamicContent {
    dynamicContentStatus: status
  }
  ... on InAppMessage {
    inAppStatus: status
  }
  ... on ScreenView {
    screenViewStatus: status
  }
  ... on LandingPage {
    landingPageStatus: status
  }
}`, { "fragmentName": "Outcome" });
  var LaunchDocument = new TypedDocumentString(`
    mutation Launch($id: ID!, $expectedVersion: Int) {
  launchCommunication(id: $id, expectedVersion: $expectedVersion) {
    ...Outcome
  }
}
    fragment Outcome on CommunicationPayload {
  communication {
    ...Row
  }
  userErrors {
    code
    message
    field
  }
}
fragment Row on Communication {
  ... on CommunicationBase {
    id
    name
    kind
    origin
    version
    updatedAt
    availableActions
  }
  ... on EmailCampaign {
    emailStatus: status
  }
  ... on SmsCampaign {
    smsStatus: status
  }
  ... on WebPushCampaign {
    webPushStatus: status
  }
  ... on MobilePushCampaign {
    mobilePushStatus: status
  }
  ... on DynamicContent {
    dynamicContentStatus: status
  }
  ... on InAppMessage {
    inAppStatus: status
  }
  ... on ScreenView {
    screenViewStatus: status
  }
  ... on LandingPage {
    landingPageStatus: status
  }
}`);
  var ScheduleDocument = new TypedDocumentString(`
    mutation Schedule($id: ID!, $startAt: DateTime!, $expectedVersion: Int) {
  scheduleCommunication(
    id: $id
    startAt: $startAt
    expectedVersion: $expectedVersion
  ) {
    ...Outcome
  }
}
    fragment Outcome on CommunicationPayload {
  communication {
    ...Row
  }
  userErrors {
    code
    message
    field
  }
}
fragment Row on Communication {
  ... on CommunicationBase {
    id
    name
    kind
    origin
    version
    updatedAt
    availableActions
  }
  ... on EmailCampaign {
    emailStatus: status
  }
  ... on SmsCampaign {
    smsStatus: status
  }
  ... on WebPushCampaign {
    webPushStatus: status
  }
  ... on MobilePushCampaign {
    mobilePushStatus: status
  }
  ... on DynamicContent {
    dynamicContentStatus: status
  }
  ... on InAppMessage {
    inAppStatus: status
  }
  ... on ScreenView {
    screenViewStatus: status
  }
  ... on LandingPage {
    landingPageStatus: status
  }
}`);
  var UnscheduleDocument = new TypedDocumentString(`
    mutation Unschedule($id: ID!, $expectedVersion: Int) {
  unscheduleCommunication(id: $id, expectedVersion: $expectedVersion) {
    ...Outcome
  }
}
    fragment Outcome on CommunicationPayload {
  communication {
    ...Row
  }
  userErrors {
    code
    message
    field
  }
}
fragment Row on Communication {
  ... on CommunicationBase {
    id
    name
    kind
    origin
    version
    updatedAt
    availableActions
  }
  ... on EmailCampaign {
    emailStatus: status
  }
  ... on SmsCampaign {
    smsStatus: status
  }
  ... on WebPushCampaign {
    webPushStatus: status
  }
  ... on MobilePushCampaign {
    mobilePushStatus: status
  }
  ... on DynamicContent {
    dynamicContentStatus: status
  }
  ... on InAppMessage {
    inAppStatus: status
  }
  ... on ScreenView {
    screenViewStatus: status
  }
  ... on LandingPage {
    landingPageStatus: status
  }
}`);
  var PauseDocument = new TypedDocumentString(`
    mutation Pause($id: ID!, $expectedVersion: Int) {
  pauseCommunication(id: $id, expectedVersion: $expectedVersion) {
    ...Outcome
  }
}
    fragment Outcome on CommunicationPayload {
  communication {
    ...Row
  }
  userErrors {
    code
    message
    field
  }
}
fragment Row on Communication {
  ... on CommunicationBase {
    id
    name
    kind
    origin
    version
    updatedAt
    availableActions
  }
  ... on EmailCampaign {
    emailStatus: status
  }
  ... on SmsCampaign {
    smsStatus: status
  }
  ... on WebPushCampaign {
    webPushStatus: status
  }
  ... on MobilePushCampaign {
    mobilePushStatus: status
  }
  ... on DynamicContent {
    dynamicContentStatus: status
  }
  ... on InAppMessage {
    inAppStatus: status
  }
  ... on ScreenView {
    screenViewStatus: status
  }
  ... on LandingPage {
    landingPageStatus: status
  }
}`);
  var ResumeDocument = new TypedDocumentString(`
    mutation Resume($id: ID!, $expectedVersion: Int) {
  resumeCommunication(id: $id, expectedVersion: $expectedVersion) {
    ...Outcome
  }
}
    fragment Outcome on CommunicationPayload {
  communication {
    ...Row
  }
  userErrors {
    code
    message
    field
  }
}
fragment Row on Communication {
  ... on CommunicationBase {
    id
    name
    kind
    origin
    version
    updatedAt
    availableActions
  }
  ... on EmailCampaign {
    emailStatus: status
  }
  ... on SmsCampaign {
    smsStatus: status
  }
  ... on WebPushCampaign {
    webPushStatus: status
  }
  ... on MobilePushCampaign {
    mobilePushStatus: status
  }
  ... on DynamicContent {
    dynamicContentStatus: status
  }
  ... on InAppMessage {
    inAppStatus: status
  }
  ... on ScreenView {
    screenViewStatus: status
  }
  ... on LandingPage {
    landingPageStatus: status
  }
}`);
  var PublishDocument = new TypedDocumentString(`
    mutation Publish($id: ID!, $expectedVersion: Int) {
  publishLandingPage(id: $id, expectedVersion: $expectedVersion) {
    ...Outcome
  }
}
    fragment Outcome on CommunicationPayload {
  communication {
    ...Row
  }
  userErrors {
    code
    message
    field
  }
}
fragment Row on Communication {
  ... on CommunicationBase {
    id
    name
    kind
    origin
    version
    updatedAt
    availableActions
  }
  ... on EmailCampaign {
    emailStatus: status
  }
  ... on SmsCampaign {
    smsStatus: status
  }
  ... on WebPushCampaign {
    webPushStatus: status
  }
  ... on MobilePushCampaign {
    mobilePushStatus: status
  }
  ... on DynamicContent {
    dynamicContentStatus: status
  }
  ... on InAppMessage {
    inAppStatus: status
  }
  ... on ScreenView {
    screenViewStatus: status
  }
  ... on LandingPage {
    landingPageStatus: status
  }
}`);
  var UnpublishDocument = new TypedDocumentString(`
    mutation Unpublish($id: ID!, $expectedVersion: Int) {
  unpublishLandingPage(id: $id, expectedVersion: $expectedVersion) {
    ...Outcome
  }
}
    fragment Outcome on CommunicationPayload {
  communication {
    ...Row
  }
  userErrors {
    code
    message
    field
  }
}
fragment Row on Communication {
  ... on CommunicationBase {
    id
    name
    kind
    origin
    version
    updatedAt
    availableActions
  }
  ... on EmailCampaign {
    emailStatus: status
  }
  ... on SmsCampaign {
    smsStatus: status
  }
  ... on WebPushCampaign {
    webPushStatus: status
  }
  ... on MobilePushCampaign {
    mobilePushStatus: status
  }
  ... on DynamicContent {
    dynamicContentStatus: status
  }
  ... on InAppMessage {
    inAppStatus: status
  }
  ... on ScreenView {
    screenViewStatus: status
  }
  ... on LandingPage {
    landingPageStatus: status
  }
}`);
  var StopDocument = new TypedDocumentString(`
    mutation Stop($id: ID!, $dryRun: Boolean!, $reason: String, $expectedVersion: Int) {
  stopCommunication(
    id: $id
    dryRun: $dryRun
    reason: $reason
    expectedVersion: $expectedVersion
  ) {
    ...Outcome
    stopSummary {
      notSentNow
      alreadySent
      total
    }
  }
}
    fragment Outcome on CommunicationPayload {
  communication {
    ...Row
  }
  userErrors {
    code
    message
    field
  }
}
fragment Row on Communication {
  ... on CommunicationBase {
    id
    name
    kind
    origin
    version
    updatedAt
    availableActions
  }
  ... on EmailCampaign {
    emailStatus: status
  }
  ... on SmsCampaign {
    smsStatus: status
  }
  ... on WebPushCampaign {
    webPushStatus: status
  }
  ... on MobilePushCampaign {
    mobilePushStatus: status
  }
  ... on DynamicContent {
    dynamicContentStatus: status
  }
  ... on InAppMessage {
    inAppStatus: status
  }
  ... on ScreenView {
    screenViewStatus: status
  }
  ... on LandingPage {
    landingPageStatus: status
  }
}`);
  var CommunicationsDocument = new TypedDocumentString(`
    query Communications($filter: CommunicationFilter, $first: Int, $after: String, $last: Int, $before: String) {
  communications(
    filter: $filter
    first: $first
    after: $after
    last: $last
    before: $before
  ) {
    totalCount
    edges {
      cursor
      node {
        ...Row
      }
    }
    pageInfo {
      hasNextPage
      hasPreviousPage
      startCursor
      endCursor
    }
  }
}
    fragment Row on Communication {
  ... on CommunicationBase {
    id
    name
    kind
    origin
    version
    updatedAt
    availableActions
  }
  ... on EmailCampaign {
    emailStatus: status
  }
  ... on SmsCampaign {
    smsStatus: status
  }
  ... on WebPushCampaign {
    webPushStatus: status
  }
  ... on MobilePushCampaign {
    mobilePushStatus: status
  }
  ... on DynamicContent {
    dynamicContentStatus: status
  }
  ... on InAppMessage {
    inAppStatus: status
  }
  ... on ScreenView {
    screenViewStatus: status
  }
  ... on LandingPage {
    landingPageStatus: status
  }
}`);
  var StatusCountsDocument = new TypedDocumentString(`
    query StatusCounts {
  statusCounts {
    kind
    status
    count
  }
}
    `);
  var StatusChangedDocument = new TypedDocumentString(`
    subscription StatusChanged($after: String) {
  statusChanged(after: $after) {
    cursor
    communicationId
    kind
    action
    from
    to
    actor
    reason
    at
    communication {
      ... on CommunicationBase {
        name
      }
    }
  }
}
    `);
  var SendingDocument = new TypedDocumentString(`
    query Sending {
  communications(filter: {statuses: [SENDING]}, first: 50) {
    edges {
      node {
        ... on MessageCampaign {
          id
          name
          kind
        }
      }
    }
  }
}
    `);
  var SendingProgressDocument = new TypedDocumentString(`
    subscription SendingProgress($id: ID!) {
  sendingProgress(id: $id) {
    communicationId
    status
    audienceSize
    pendingCount
    handedOffCount
    sentCount
    notSentCount
    progress
  }
}
    `);
  var ViewerDocument = new TypedDocumentString(`
    query Viewer {
  viewer {
    name
    role
  }
}
    `);
  var WebhookEndpointsDocument = new TypedDocumentString(`
    query WebhookEndpoints {
  webhookEndpoints {
    id
    url
    state
    attempts
    failingSince
    nextAttemptAt
    lastError
    lag
    lastAttempt {
      at
      statusCode
      error
      delivered
    }
  }
}
    `);

  // web/board/src/main.ts
  var PAGE_SIZE = 20;
  var FEED_LIMIT = 200;
  var RETRY_FIRST = 250;
  var RETRY_MAX = 2e3;
  var WEBHOOKS_EVERY = 2e3;
  function say(text, kind = "info") {
    const box = byId("messages");
    const message = h(
      "div",
      { class: `msg msg-${kind}`, role: kind === "error" ? "alert" : "status" },
      h("span", {}, text),
      h("button", { class: "msg-close", "aria-label": "dismiss", onclick: () => message.remove() }, "×")
    );
    box.prepend(message);
    while (box.children.length > 4) box.lastElementChild?.remove();
  }
  function failure(error) {
    if (error instanceof ApiError) return error.message;
    if (error instanceof Error) return error.message;
    return String(error);
  }
  var canAct = false;
  var role = null;
  async function probeRole() {
    try {
      role = (await request(ViewerDocument, {})).viewer.role;
      return role === "EDITOR" || role === "ADMIN" ? "act" : "read";
    } catch (error) {
      if (error instanceof ApiError && (error.status === 401 || error.codes.includes("UNAUTHENTICATED")))
        return "none";
      throw error;
    }
  }
  function setupTokenForm() {
    const form = byId("token-form");
    const input = byId("token");
    byId("token-state").textContent = token() ? "token set" : "no token";
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      setToken(input.value.trim());
      location.reload();
    });
    byId("token-clear").addEventListener("click", () => {
      setToken("");
      location.reload();
    });
  }
  function setConnection(state, text) {
    const pill = byId("conn");
    pill.dataset.state = state;
    pill.textContent = text;
  }
  async function loadCounts() {
    const { statusCounts } = await request(StatusCountsDocument, {});
    const byKind = /* @__PURE__ */ new Map();
    for (const { kind, status, count: n } of statusCounts) {
      if (!byKind.has(kind)) byKind.set(kind, /* @__PURE__ */ new Map());
      byKind.get(kind)?.set(status, n);
    }
    const used = STATUSES.filter((s) => statusCounts.some((c) => c.status === s));
    const head = h("tr", {}, h("th", {}, "Kind"), ...used.map((s) => h("th", { class: `s-${s}` }, s)));
    const rows = [...byKind].map(
      ([kind, statuses]) => h(
        "tr",
        { "data-kind": kind },
        h("th", {}, KIND_LABELS[kind]),
        ...used.map((status) => {
          const n = statuses.get(status);
          return n === void 0 ? h("td", { class: "na" }, "·") : h("td", { "data-status": status, class: n ? "nonzero" : "zero" }, count(n));
        })
      )
    );
    const totals = h(
      "tr",
      { class: "totals" },
      h("th", {}, "All"),
      ...used.map(
        (status) => h(
          "td",
          { "data-total": status },
          count(statusCounts.filter((c) => c.status === status).reduce((sum, c) => sum + c.count, 0))
        )
      )
    );
    byId("counts").replaceChildren(h("thead", {}, head), h("tbody", {}, ...rows, totals));
  }
  var client;
  var feedCursor = null;
  var droppedAt = null;
  var retryDelay = RETRY_FIRST;
  var resumes = 0;
  function feedLine(item) {
    const list = byId("feed");
    byId("feed-empty").hidden = true;
    list.prepend(item);
    while (list.children.length > FEED_LIMIT) list.lastElementChild?.remove();
  }
  function showChange(change) {
    const name = "name" in change.communication ? change.communication.name : change.communicationId;
    feedLine(
      h(
        "li",
        { class: "change", "data-cursor": change.cursor, "data-id": change.communicationId, "data-to": change.to },
        h("time", { datetime: change.at }, time(change.at)),
        h("span", { class: "kind" }, KIND_LABELS[change.kind]),
        h("span", { class: "name" }, name),
        h("span", { class: `status s-${change.from ?? "NONE"}` }, change.from ?? "new"),
        "→",
        h("span", { class: `status s-${change.to}` }, change.to),
        h("span", { class: "who" }, `${change.action.toLowerCase()} by ${change.actor}`),
        change.reason ? h("span", { class: "reason" }, `“${change.reason}”`) : null
      )
    );
  }
  function showSystem(text, kind) {
    feedLine(h("li", { class: `system ${kind}` }, h("time", {}, time((/* @__PURE__ */ new Date()).toISOString())), text));
  }
  function closeCode(error) {
    const code = error?.code;
    return typeof code === "number" ? code : null;
  }
  function startFeed() {
    subscribe(client, StatusChangedDocument, { after: feedCursor }, {
      next: ({ statusChanged }) => {
        feedCursor = statusChanged.cursor;
        showChange(statusChanged);
        refreshSoon();
      },
      error: (error) => feedDropped(error),
      complete: () => feedDropped(null)
    });
  }
  function feedDropped(error) {
    const code = closeCode(error);
    if (code === 4403 || code === 4401 || error instanceof ApiError && error.codes.includes("FORBIDDEN")) {
      void probeRole().then(
        (role2) => role2 === "none" ? refusedLive(error) : lost(),
        () => lost()
      );
      return;
    }
    lost();
  }
  function refusedLive(error) {
    const reason = error?.reason;
    setConnection("refused", "token refused");
    say(
      `The server refused this token (${typeof reason === "string" && reason ? reason : failure(error)}): enter another one above.`,
      "error"
    );
  }
  function lost() {
    if (droppedAt === null) {
      droppedAt = /* @__PURE__ */ new Date();
      showSystem("Connection lost; reconnecting…", "lost");
    }
    setConnection("reconnecting", "reconnecting…");
    window.setTimeout(startFeed, retryDelay);
    retryDelay = Math.min(retryDelay * 2, RETRY_MAX);
  }
  function connected() {
    retryDelay = RETRY_FIRST;
    setConnection("live", "live");
    if (droppedAt !== null) {
      const seconds = ((Date.now() - droppedAt.getTime()) / 1e3).toFixed(1);
      droppedAt = null;
      resumes += 1;
      byId("feed").dataset.resumes = String(resumes);
      showSystem(
        feedCursor ? `Reconnected after ${seconds} s; resumed after the last change seen, so nothing was missed` : `Reconnected after ${seconds} s`,
        "resumed"
      );
      refreshSoon();
    }
  }
  var bars = /* @__PURE__ */ new Map();
  function renderBar(element, p) {
    const total = Math.max(p.audienceSize, 1);
    const share = (n) => `${(100 * n / total).toFixed(2)}%`;
    element.dataset.status = p.status;
    element.dataset.sent = String(p.sentCount);
    element.dataset.notSent = String(p.notSentCount);
    element.dataset.pending = String(p.pendingCount);
    const track = element.querySelector(".track");
    track?.replaceChildren(
      h("span", { class: "seg sent", style: `width:${share(p.sentCount)}`, title: "sent" }),
      h("span", { class: "seg notsent", style: `width:${share(p.notSentCount)}`, title: "not sent" }),
      h("span", { class: "seg handed", style: `width:${share(p.handedOffCount)}`, title: "handed off" })
    );
    const figures = element.querySelector(".figures");
    figures?.replaceChildren(
      h("span", { class: "f-sent" }, `${count(p.sentCount)} sent`),
      h("span", { class: "f-notsent" }, `${count(p.notSentCount)} not sent`),
      h("span", { class: "f-handed" }, `${count(p.handedOffCount)} handed off`),
      h("span", { class: "f-pending" }, `${count(p.pendingCount)} pending`),
      h("span", { class: "f-total" }, `of ${count(p.audienceSize)} · ${(100 * p.progress).toFixed(0)}%`)
    );
  }
  async function loadSending() {
    const { communications } = await request(SendingDocument, {});
    const sending = communications.edges.map((e) => e.node).filter((n) => "id" in n);
    const ids = new Set(sending.map((n) => n.id));
    for (const [id, bar] of bars) {
      if (!ids.has(id)) {
        bar.stop?.();
        bar.element.remove();
        bars.delete(id);
      }
    }
    for (const node of sending) {
      const bar = bars.get(node.id) ?? {
        stop: null,
        element: h(
          "div",
          { class: "bar", "data-id": node.id },
          h("div", { class: "bar-head" }, h("span", { class: "kind" }, KIND_LABELS[node.kind]), h("b", {}, node.name)),
          h("div", { class: "track" }),
          h("div", { class: "figures" })
        )
      };
      if (!bars.has(node.id)) {
        byId("bars").append(bar.element);
        bars.set(node.id, bar);
      }
      if (bar.stop) continue;
      bar.stop = subscribe(client, SendingProgressDocument, { id: node.id }, {
        next: ({ sendingProgress }) => renderBar(bar.element, sendingProgress),
        error: () => bar.stop = null,
        // dropped with the socket: the next refresh resubscribes
        complete: () => bar.stop = null
      });
    }
    byId("bars-empty").hidden = bars.size > 0;
  }
  var filter = {};
  var page = { first: PAGE_SIZE };
  var pageInfo = { startCursor: null, endCursor: null };
  async function loadList() {
    const { communications } = await request(CommunicationsDocument, { filter, ...page });
    const rows = communications.edges.map((e) => e.node).filter((n) => "id" in n);
    byId("rows").replaceChildren(...rows.map(renderRow));
    byId("list-empty").hidden = rows.length > 0;
    byId("total").textContent = plural(communications.totalCount, "communication");
    pageInfo = { startCursor: communications.pageInfo.startCursor ?? null, endCursor: communications.pageInfo.endCursor ?? null };
    const forward = page.first != null;
    byId("prev").disabled = forward ? page.after == null : !communications.pageInfo.hasPreviousPage;
    byId("next").disabled = forward ? !communications.pageInfo.hasNextPage : false;
  }
  function renderRow(row) {
    const status = statusOf(row);
    const actions = canAct ? row.availableActions.filter((action) => ACTION_LABELS[action]).map(
      (action) => h(
        "button",
        { class: `act act-${action.toLowerCase()}`, "data-action": action, onclick: () => void perform(row, action) },
        ACTION_LABELS[action] ?? action
      )
    ) : [];
    return h(
      "tr",
      { "data-id": row.id, "data-status": status },
      h("td", { class: "name" }, row.name),
      h("td", {}, KIND_LABELS[row.kind]),
      h("td", {}, h("span", { class: `status s-${status}` }, status)),
      h("td", {}, row.origin.toLowerCase()),
      h("td", { class: "num" }, row.version),
      h("td", {}, new Date(row.updatedAt).toLocaleString("en-GB")),
      h("td", { class: "actions" }, ...actions)
    );
  }
  function setupList() {
    byId("filter-kind").append(...Object.entries(KIND_LABELS).map(([value, label]) => h("option", { value }, label)));
    byId("filter-status").append(...STATUSES.map((s) => h("option", { value: s }, s)));
    byId("filters").addEventListener("submit", (event) => {
      event.preventDefault();
      const kind = byId("filter-kind").value;
      const status = byId("filter-status").value;
      const search = byId("filter-search").value.trim();
      filter = {
        ...kind ? { kinds: [kind] } : {},
        ...status ? { statuses: [status] } : {},
        ...search ? { search } : {}
      };
      page = { first: PAGE_SIZE };
      void loadList().catch((error) => say(failure(error), "error"));
    });
    byId("next").addEventListener("click", () => {
      page = { first: PAGE_SIZE, after: pageInfo.endCursor };
      void loadList().catch((error) => say(failure(error), "error"));
    });
    byId("prev").addEventListener("click", () => {
      page = { last: PAGE_SIZE, before: pageInfo.startCursor };
      void loadList().catch((error) => say(failure(error), "error"));
    });
  }
  var SIMPLE = {
    LAUNCH: async (id, v) => (await request(LaunchDocument, { id, expectedVersion: v })).launchCommunication,
    UNSCHEDULE: async (id, v) => (await request(UnscheduleDocument, { id, expectedVersion: v })).unscheduleCommunication,
    PAUSE: async (id, v) => (await request(PauseDocument, { id, expectedVersion: v })).pauseCommunication,
    RESUME: async (id, v) => (await request(ResumeDocument, { id, expectedVersion: v })).resumeCommunication,
    PUBLISH: async (id, v) => (await request(PublishDocument, { id, expectedVersion: v })).publishLandingPage,
    UNPUBLISH: async (id, v) => (await request(UnpublishDocument, { id, expectedVersion: v })).unpublishLandingPage
  };
  function ask(text, confirmLabel, input) {
    const dialog = byId("confirm");
    byId("confirm-text").textContent = text;
    const field = byId("confirm-input");
    const label = byId("confirm-input-label");
    label.hidden = !input;
    if (input) {
      byId("confirm-input-name").textContent = input.label;
      field.type = input.type;
      field.value = input.value;
    }
    byId("confirm-ok").textContent = confirmLabel;
    dialog.returnValue = "";
    dialog.showModal();
    return new Promise((resolve) => {
      dialog.addEventListener(
        "close",
        () => resolve(dialog.returnValue === "ok" ? input ? field.value : "" : null),
        { once: true }
      );
    });
  }
  function refused(outcome) {
    for (const error of outcome.userErrors) say(error.message, "error");
    return outcome.userErrors.length > 0;
  }
  async function perform(row, action) {
    try {
      if (action === "STOP") return await stop(row);
      if (action === "SCHEDULE") return await schedule(row);
      const run = SIMPLE[action];
      if (!run) return;
      const outcome = await run(row.id, row.version);
      if (!refused(outcome)) say(`${ACTION_LABELS[action]}: “${row.name}” done.`, "ok");
    } catch (error) {
      say(failure(error), "error");
    }
    refreshSoon();
  }
  async function stop(row) {
    const dry = (await request(StopDocument, { id: row.id, dryRun: true, expectedVersion: row.version })).stopCommunication;
    if (refused(dry)) return;
    const event = NOT_SENT_EVENT[row.kind];
    const summary = dry.stopSummary;
    const what = event && summary ? `${plural(summary.notSentNow, "recipient")} will get ${event}` + (summary.alreadySent ? `; ${count(summary.alreadySent)} already sent stay sent.` : ".") : "It stops being shown.";
    const reason = await ask(`Stop “${row.name}”? ${what} A stop is final.`, "Stop for good", {
      label: "Reason (optional)",
      type: "text",
      value: ""
    });
    if (reason === null) return;
    const done = (await request(StopDocument, { id: row.id, dryRun: false, reason: reason || null, expectedVersion: row.version })).stopCommunication;
    if (refused(done)) return;
    const stopped = done.stopSummary;
    say(
      event && stopped ? `Stopped “${row.name}”: ${plural(stopped.notSentNow, "recipient")} got ${event}.` : `Stopped “${row.name}”.`,
      "ok"
    );
    refreshSoon();
  }
  async function schedule(row) {
    const soon = new Date(Date.now() + 10 * 6e4);
    const local = new Date(soon.getTime() - soon.getTimezoneOffset() * 6e4).toISOString().slice(0, 16);
    const when = await ask(`Schedule “${row.name}”: it starts by itself at this time.`, "Schedule", {
      label: "Start at",
      type: "datetime-local",
      value: local
    });
    if (!when) return;
    const outcome = (await request(ScheduleDocument, { id: row.id, startAt: new Date(when).toISOString(), expectedVersion: row.version })).scheduleCommunication;
    if (!refused(outcome)) say(`Scheduled “${row.name}”.`, "ok");
    refreshSoon();
  }
  function health(endpoint2) {
    if (endpoint2.state === "FAILING") return "stopped";
    return endpoint2.attempts > 0 ? "failing" : "healthy";
  }
  function renderEndpoint(endpoint2) {
    const state = health(endpoint2);
    const last = endpoint2.lastAttempt;
    const outcome = !last ? "none yet" : last.delivered ? `delivered (${last.statusCode ?? "?"})` : `failed: ${last.error ?? `HTTP ${last.statusCode ?? "?"}`}`;
    const status = state === "healthy" ? "healthy" : state === "stopped" ? "stopped: replay to resume" : `failing, ${plural(endpoint2.attempts, "attempt")}` + (endpoint2.nextAttemptAt ? `; next at ${time(endpoint2.nextAttemptAt)}` : "");
    return h(
      "tr",
      { "data-endpoint": endpoint2.id, "data-health": state, "data-lag": endpoint2.lag },
      h("td", { class: "url" }, endpoint2.url),
      h("td", {}, h("span", { class: `health h-${state}` }, status)),
      h("td", { class: "last" }, last ? h("time", { datetime: last.at }, time(last.at)) : null, " ", outcome),
      h("td", { class: "num lag" }, endpoint2.lag ? `${plural(endpoint2.lag, "change")} behind` : "up to date")
    );
  }
  async function loadWebhooks() {
    if (role !== "ADMIN") return;
    const { webhookEndpoints } = await request(WebhookEndpointsDocument, {});
    byId("endpoints").replaceChildren(...webhookEndpoints.map(renderEndpoint));
    byId("endpoints-empty").hidden = webhookEndpoints.length > 0;
  }
  var refreshTimer;
  function refreshSoon() {
    window.clearTimeout(refreshTimer);
    refreshTimer = window.setTimeout(() => void refresh(), 100);
  }
  async function refresh() {
    const results = await Promise.allSettled([loadCounts(), loadList(), loadSending(), loadWebhooks()]);
    const failed = results.find((r) => r.status === "rejected");
    if (failed && droppedAt === null) say(failure(failed.reason), "error");
  }
  async function main() {
    setupTokenForm();
    setupList();
    setConnection("connecting", "connecting…");
    let access;
    try {
      access = await probeRole();
    } catch (error) {
      say(failure(error), "error");
      setConnection("refused", "unreachable");
      return;
    }
    canAct = access === "act";
    document.body.dataset.role = access;
    if (access === "none") {
      setConnection("refused", "token needed");
      say(
        token() ? "The server refused this token: enter another one above." : "This server needs an API token: enter one above.",
        "error"
      );
      byId("token").focus();
      return;
    }
    if (access === "read") say("This token may look but not act: no action buttons.", "info");
    if (role === "ADMIN") {
      byId("webhooks-panel").hidden = false;
      window.setInterval(() => void loadWebhooks().catch(() => void 0), WEBHOOKS_EVERY);
    }
    client = connect({ connected, closed: () => void 0 });
    startFeed();
    await refresh();
    document.body.dataset.ready = "true";
  }
  void main();
})();
