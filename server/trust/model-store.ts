// Where trained trust models live. The server keeps them in its database (through TrustStore);
// the in-memory and JSON-file stores serve tests and single-file deployments.
import fs from 'node:fs';
import path from 'node:path';
import type { TrustStore } from '../storage/storage.ts';
import { parseTrustModel, type TrustModel } from './model.ts';

export interface TrustModelStore {
  /** Stores a model; saving a version that already exists replaces it (training is idempotent). */
  saveModel(model: TrustModel): void | Promise<void>;
  /** The most recently saved model, or null. */
  loadLatestModel(): TrustModel | null | Promise<TrustModel | null>;
}

export class MemoryTrustModelStore implements TrustModelStore {
  private models: TrustModel[] = [];
  saveModel(model: TrustModel): void {
    const copy = parseTrustModel(JSON.parse(JSON.stringify(model)));
    this.models = this.models.filter((m) => m.version !== copy.version);
    this.models.push(copy);
  }
  loadLatestModel(): TrustModel | null {
    return this.models.at(-1) ?? null;
  }
  list(): TrustModel[] {
    return [...this.models];
  }
}

/** One JSON file holding every model, newest last; written atomically (temp file + rename). */
export class JsonFileTrustModelStore implements TrustModelStore {
  constructor(private readonly file: string) {}

  private readAll(): TrustModel[] {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    const parsed = JSON.parse(text) as { models?: unknown };
    if (!parsed || !Array.isArray(parsed.models)) throw new RangeError(`${this.file}: not a trust model store`);
    return parsed.models.map(parseTrustModel);
  }

  saveModel(model: TrustModel): void {
    const models = this.readAll().filter((m) => m.version !== model.version);
    models.push(parseTrustModel(JSON.parse(JSON.stringify(model))));
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify({ models }, null, 2));
    fs.renameSync(tmp, this.file);
  }

  loadLatestModel(): TrustModel | null {
    return this.readAll().at(-1) ?? null;
  }
}

/** Models in the service's database (SQLite or PostgreSQL), shared by every instance on it. */
export class StorageTrustModelStore implements TrustModelStore {
  constructor(private readonly store: TrustStore) {}
  /** Version of the latest model without parsing it (cheap; lets a server notice a training elsewhere). */
  latestVersion(): Promise<string | null> {
    return this.store.latestTrustModelVersion();
  }
  async saveModel(model: TrustModel): Promise<void> {
    const m = parseTrustModel(JSON.parse(JSON.stringify(model)));
    await this.store.saveTrustModel({ version: m.version, trainedAt: m.trainedAt, auc: m.metrics.auc, precision: m.metrics.precision, recall: m.metrics.recall, n: m.metrics.n, json: JSON.stringify(m) });
  }
  async loadLatestModel(): Promise<TrustModel | null> {
    const r = await this.store.latestTrustModel();
    return r ? parseTrustModel(JSON.parse(r.json)) : null;
  }
}
