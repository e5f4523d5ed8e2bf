// A session follower (`events.follow`, replay then live) as the async iterator a GraphQL
// subscription consumes. Ending the subscription (client `complete`, socket closed) aborts
// the follower, so its bus subscription is released at once rather than at the next event;
// an error mid-stream leaves as a catalogued GraphQL error, never as a raw message.
import type { GraphQLError } from 'graphql'

export function eventStream<T> (
  follow: (signal: AbortSignal) => AsyncGenerator<T>,
  toError: (err: unknown) => GraphQLError
): AsyncIterableIterator<T> {
  const controller = new AbortController()
  const source = follow(controller.signal)
  let finished = false

  async function stop (): Promise<IteratorResult<T>> {
    if (!finished) {
      finished = true
      controller.abort()
      // a pending next() settles first (the abort wakes it), then the generator returns
      await source.return(undefined)
    }
    return { done: true, value: undefined }
  }

  return {
    async next () {
      if (finished) return { done: true, value: undefined }
      try {
        const result = await source.next()
        if (result.done === true) finished = true
        return result
      } catch (err) {
        finished = true
        controller.abort()
        throw toError(err)
      }
    },
    return: stop,
    async throw (err: unknown) {
      await stop()
      throw err
    },
    [Symbol.asyncIterator] () { return this }
  }
}
