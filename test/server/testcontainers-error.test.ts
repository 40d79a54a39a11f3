/** PRECOG_TEST_DB=testcontainers reports what failed: no engine, or an engine that lacks the image. */
import { expect, it } from 'vitest';
import { containerFailure, startContainer } from '../support/container.js';

it('says that no engine answered when none did', () => {
  const error = containerFailure(new Error('Could not find a working container runtime strategy'), undefined);
  expect(error.message).toMatch(/needs a running container engine \(Docker or Podman\), and none answered: Could not find a working/);
});

it('says that the engine answered and the image could not be pulled, when that is what failed', () => {
  const error = containerFailure(new Error('(HTTP code 404) no such image - pull access denied for postgres'), 'unix:///var/run/docker.sock (Debian)');
  expect(error.message).toMatch(/the container engine at unix:\/\/\/var\/run\/docker.sock \(Debian\) answered, but the image postgres:17-alpine could not be pulled/);
  expect(error.message).not.toMatch(/none answered/);
});

it('says that the container did not start for any other failure after the engine answered', () => {
  const error = containerFailure(new Error('Wait strategy timed out'), 'tcp://localhost:2375 (engine)');
  expect(error.message).toMatch(/answered, but the container postgres:17-alpine did not start: Wait strategy timed out/);
});

it('on this machine (no engine), the real start reports the missing engine', async () => {
  const outcome = await startContainer().then(
    async (started) => {
      await started.stop();
      return 'started';
    },
    (error: Error) => error.message,
  );
  if (outcome !== 'started') expect(outcome).toMatch(/container engine/);
}, 60_000);
