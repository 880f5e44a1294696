// A raw HTTP request for edge tests: any Host header, any method, a body written whole or chunk by
// chunk (chunked transfer encoding when no length is set) — what fetch() will not send.
import http from 'node:http';

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  json: any;
}

export interface RawRequest {
  method?: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
  chunks?: string[];
}

export function rawRequest(base: string | URL, o: RawRequest): Promise<RawResponse> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, method: o.method ?? 'GET', path: o.path, headers: o.headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, json: text ? JSON.parse(text) : null }));
    });
    req.on('error', reject);
    if (o.chunks) {
      const write = (i: number): void => {
        if (i === o.chunks!.length) return void req.end();
        // Keep writing after the server answered: a dropped connection would show as 'error'.
        if (!req.write(o.chunks![i])) req.once('drain', () => write(i + 1));
        else setImmediate(() => write(i + 1));
      };
      write(0);
    } else req.end(o.body);
  });
}
