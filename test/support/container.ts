/** PostgreSQL in Docker through testcontainers, for PRECOG_TEST_DB=testcontainers. */
import type { ServerTarget } from '../../src/server/connection-string.js';

export async function startContainer(): Promise<{ server: ServerTarget; stop: () => Promise<void> }> {
  const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
  try {
    const container = await new PostgreSqlContainer('postgres:17-alpine').start();
    return {
      server: {
        host: container.getHost(),
        port: container.getPort(),
        user: container.getUsername(),
        password: container.getPassword(),
        origin: 'testcontainers',
      },
      stop: async () => {
        await container.stop();
      },
    };
  } catch (error) {
    throw new Error(
      `PRECOG_TEST_DB=testcontainers needs a running Docker engine, and none answered: ${(error as Error).message}\n` +
        'Start Docker, or unset PRECOG_TEST_DB to test on the embedded PostgreSQL (no Docker needed).',
    );
  }
}
