// A session follower (`events.follow`, replay then live) as the async iterator a GraphQL
// subscription consumes. Ending the subscription (client `complete`, socket closed) aborts
// the follower, so its bus subscription is released at once rather than at the next event;
// an error mid-stream leaves as a catalogued GraphQL error, never as a raw message.
import type { GraphQLError } from 'graphql'
import { domainMetrics } from '../domain/metrics.ts'

export function eventStream<T> (
  follow: (signal: AbortSignal) => AsyncGenerator<T>,
  toError: (err: unknown) => GraphQLError,
  kind = 'session_events'
): AsyncIterableIterator<T> {
  const controller = new AbortController()
  const source = follow(controller.signal)
  let finished = false
  let counted = true
  domainMetrics().graphqlSubscriptions.add(1, { kind })
  const uncount = () => {
    if (counted) domainMetrics().graphqlSubscriptions.add(-1, { kind })
    counted = false
  }

  async function stop (): Promise<IteratorResult<T>> {
    uncount()
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
        if (result.done === true) {
          finished = true
          uncount()
        }
        return result
      } catch (err) {
        finished = true
        uncount()
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
