// Where trained trust models live. The server implements this on its database; the in-memory and
// JSON-file stores serve tests and single-file deployments.
import fs from 'node:fs';
import path from 'node:path';
import { parseTrustModel, type TrustModel } from './model.ts';

export interface TrustModelStore {
  /** Stores a model; saving a version that already exists replaces it (training is idempotent). */
  saveModel(model: TrustModel): void;
  /** The most recently saved model, or null. */
  loadLatestModel(): TrustModel | null;
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

/** Models in the server's SQLite database (own table, created idempotently). */
export class SqliteTrustModelStore implements TrustModelStore {
  private readonly save: import('better-sqlite3').Statement;
  private readonly latest: import('better-sqlite3').Statement;
  private readonly head: import('better-sqlite3').Statement;
  constructor(db: import('better-sqlite3').Database) {
    db.exec(`CREATE TABLE IF NOT EXISTS trust_models (
      seq INTEGER PRIMARY KEY,
      version TEXT NOT NULL UNIQUE,
      trained_at INTEGER NOT NULL,
      auc REAL, precision REAL, recall REAL, n INTEGER NOT NULL,
      model TEXT NOT NULL
    )`);
    // Re-saving a version moves it to the end (it is the latest again).
    this.save = db.prepare(`INSERT INTO trust_models (version, trained_at, auc, precision, recall, n, model)
      VALUES (@version, @trainedAt, @auc, @precision, @recall, @n, @model)
      ON CONFLICT (version) DO UPDATE SET seq = (SELECT max(seq) + 1 FROM trust_models), model = excluded.model, trained_at = excluded.trained_at`);
    this.latest = db.prepare('SELECT model FROM trust_models ORDER BY seq DESC LIMIT 1');
    this.head = db.prepare('SELECT version FROM trust_models ORDER BY seq DESC LIMIT 1');
  }
  /** Version of the latest model without parsing it (cheap; lets a server notice a CLI training). */
  latestVersion(): string | null {
    return ((this.head.get() as { version: string } | undefined)?.version) ?? null;
  }
  saveModel(model: TrustModel): void {
    const m = parseTrustModel(JSON.parse(JSON.stringify(model)));
    this.save.run({ version: m.version, trainedAt: m.trainedAt, auc: m.metrics.auc, precision: m.metrics.precision, recall: m.metrics.recall, n: m.metrics.n, model: JSON.stringify(m) });
  }
  loadLatestModel(): TrustModel | null {
    const r = this.latest.get() as { model: string } | undefined;
    return r ? parseTrustModel(JSON.parse(r.model)) : null;
  }
}
