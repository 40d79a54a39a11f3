/** PostgreSQL in Docker through testcontainers, for PRECOG_TEST_DB=testcontainers. */
import type { ServerTarget } from '../../src/server/connection-string.js';

export const CONTAINER_IMAGE = 'postgres:17-alpine';

export async function startContainer(): Promise<{ server: ServerTarget; stop: () => Promise<void> }> {
  const { getContainerRuntimeClient } = await import('testcontainers');
  // First: does any container engine answer? Only then is starting the container the question.
  let engine: string;
  try {
    const client = await getContainerRuntimeClient();
    engine = `${client.info.containerRuntime.host} (${client.info.containerRuntime.operatingSystem})`;
  } catch (error) {
    throw containerFailure(error, undefined);
  }
  const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
  try {
    const container = await new PostgreSqlContainer(CONTAINER_IMAGE).start();
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
    throw containerFailure(error, engine);
  }
}

/**
 * What failed, in words: no engine answered, or one answered (`engine`) and pulling or starting
 * the image failed (no registry, no such image, a port, a health check).
 */
export function containerFailure(error: unknown, engine: string | undefined): Error {
  const message = error instanceof Error ? error.message : String(error);
  const fallback = 'or unset PRECOG_TEST_DB to test on the embedded PostgreSQL (no Docker needed).';
  if (engine === undefined) {
    return new Error(
      `PRECOG_TEST_DB=testcontainers needs a running container engine (Docker or Podman), and none answered: ${message}\n` +
        `Start one, ${fallback}`,
    );
  }
  const image = /pull|manifest|not found|no such image|unauthorized|registry|denied/i.test(message)
    ? `the image ${CONTAINER_IMAGE} could not be pulled (is a registry reachable, or the image loaded with \`docker pull ${CONTAINER_IMAGE}\`?)`
    : `the container ${CONTAINER_IMAGE} did not start`;
  return new Error(
    `PRECOG_TEST_DB=testcontainers: the container engine at ${engine} answered, but ${image}: ${message}\n` +
      `Fix that, ${fallback}`,
  );
}
