import path from 'node:path';
import { openDatabase, type Db } from '../../server/store/database.js';
import { tempHome } from '../harness/temp-home.js';

/** A Fusion database (migrated) in a temporary home, for store-level tests. */
export interface TempDatabase {
  /** The database open now (the one `reopen` returned last). */
  readonly db: Db;
  /** Closes the database if open and opens the same file again (as a Fusion restart does). */
  reopen(): Db;
  /** Closes the database if open and removes the home. */
  remove(): Promise<void>;
}

export async function tempDatabase(prefix: string): Promise<TempDatabase> {
  const home = await tempHome(prefix);
  const file = path.join(home.path, 'fusion.db');
  let db = openDatabase(file);
  return {
    get db() {
      return db;
    },
    reopen() {
      if (db.open) db.close();
      db = openDatabase(file);
      return db;
    },
    async remove() {
      if (db.open) db.close();
      await home.remove();
    },
  };
}
