namespace Gputel.Tests.Support;

/// <summary>Polls for a condition that background threads make true; fails with what was awaited.</summary>
internal static class Wait
{
    public static void Until(Func<bool> condition, string what, int seconds = 15)
    {
        DateTime deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out after {seconds} s waiting for {what}");
            Thread.Sleep(10);
        }
    }
}
