// A session follower (`events.follow`, replay then live) as the async iterator a GraphQL
// subscription consumes. Ending the subscription (client `complete`, socket closed) aborts
// the follower, so it leaves the session's tail at once rather than at the next event;
// an error mid-stream leaves as a catalogued GraphQL error, never as a raw message.
// A class rather than closures. One serves every subscriber of a shared execution
// (shared-subscriptions.ts, which also counts the open subscriptions).
import type { GraphQLError } from 'graphql'

class EventStream<T> implements AsyncIterableIterator<T> {
  private readonly controller = new AbortController()
  private readonly source: AsyncGenerator<T>
  private finished = false

  constructor (
    follow: (signal: AbortSignal) => AsyncGenerator<T>,
    private readonly toError: (err: unknown) => GraphQLError
  ) {
    this.source = follow(this.controller.signal)
  }

  async next (): Promise<IteratorResult<T>> {
    if (this.finished) return { done: true, value: undefined }
    try {
      const result = await this.source.next()
      if (result.done === true) {
        this.finished = true
      }
      return result
    } catch (err) {
      this.finished = true
      this.controller.abort()
      throw this.toError(err)
    }
  }

  async return (): Promise<IteratorResult<T>> {
    if (!this.finished) {
      this.finished = true
      this.controller.abort()
      // a pending next() settles first (the abort wakes it), then the generator returns
      await this.source.return(undefined)
    }
    return { done: true, value: undefined }
  }

  async throw (err: unknown): Promise<IteratorResult<T>> {
    await this.return()
    throw err
  }

  [Symbol.asyncIterator] (): this { return this }
}

export function eventStream<T> (
  follow: (signal: AbortSignal) => AsyncGenerator<T>,
  toError: (err: unknown) => GraphQLError
): AsyncIterableIterator<T> {
  return new EventStream(follow, toError)
}

/** A subscription refused before it began: its first read fails with the error. */
export function failedStream (error: GraphQLError): AsyncIterableIterator<never> {
  return {
    next: async () => { throw error },
    return: async () => ({ done: true, value: undefined }),
    [Symbol.asyncIterator] () { return this }
  }
}
